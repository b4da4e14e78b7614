"""The web client in a real browser (Debian's Chromium, driven by Playwright) against `make run`'s
stack: a new person's whole path from the cookie banner, through buying credits at the checkout,
to closing the account, and the pages around it. With no payment provider key configured the
checkout is the API's own local stand-in page, on the same host, so nothing leaves 127.0.0.1.
Screenshots of every step land in test-artifacts/ (gitignored)."""

from __future__ import annotations

import io
import json
import re
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_local_stack import Stack

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PASSWORD = "violet kettle marching north"
# Every wait is bounded: the whole module takes well under two minutes.
STEP_MS = 10_000
RENDER_MS = 45_000
LOCAL_CHECKOUT = re.compile(r"/billing/local-checkout/[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    stack = Stack()
    try:
        yield stack
    finally:
        assert stack.stop() == 0, "".join(stack.output)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: `make test` installs it (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """One browser context and page, watching every request and every script error."""

    def __init__(self, browser, stack: Stack, name: str, **context_options) -> None:
        self.base = f"http://127.0.0.1:{stack.api_port}"
        self.stack = stack
        self.context = browser.new_context(accept_downloads=True, **context_options)
        self.context.set_default_timeout(STEP_MS)
        self.page = self.context.new_page()
        self.name = name
        self.shots = 0
        self.hosts: set[str] = set()
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.navigations: list[str] = []
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request) -> None:
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.navigations.append(request.url)
        host = urlsplit(request.url).hostname
        if host is not None:
            self.hosts.add(host)
            if host != "127.0.0.1":
                self.foreign.append(request.url)

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.base}/{route}")

    def shot(self, step: str) -> Path:
        self.shots += 1
        path = ARTIFACTS / f"{self.name}-{self.shots:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def token(self, kind: str = "access") -> str:
        return self.page.evaluate(f"sessionStorage.getItem('aisora.{kind}_token')")

    def close(self, failed: bool = False) -> None:
        if failed:
            self.shot("failure")
        self.context.close()
        assert not self.errors, f"script errors on the page: {self.errors}"
        assert not self.foreign, f"requests to hosts other than 127.0.0.1: {self.foreign}"
        assert self.hosts <= {"127.0.0.1"}, self.hosts


def sign_up(visit: Visit, email: str, birth_date: str = "1990-04-05") -> None:
    page = visit.page
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Birth date").fill(birth_date)
    page.get_by_label(re.compile("I have read and accept the")).check()
    page.get_by_role("button", name="Create account").click()


def confirm_email(visit: Visit, email: str) -> None:
    """Opens the verification link mailed to `email` (the local mailbox), then the studio."""
    page = visit.page
    visit.open(_mailed_link(visit.stack, email, "verify-email"))
    page.get_by_text(f"Thank you — {email} is confirmed.").wait_for()
    page.get_by_role("link", name="Go to the studio").click()
    page.get_by_role("heading", name="Studio").wait_for()


def pay_at_the_local_checkout(visit: Visit, product: str, price: str, shot: str) -> str:
    """On the billing page: the buy button leads to the local checkout page for `product`,
    whose Pay button brings the person back to the billing page. Returns the checkout's URL."""
    page = visit.page
    page.wait_for_url(LOCAL_CHECKOUT)
    page.get_by_role("heading", name=product, exact=True).wait_for()
    page.get_by_text("Local test checkout.").wait_for()
    checkout_url = page.url
    visit.shot(shot)
    page.get_by_role("button", name=f"Pay {price}", exact=True).click()
    page.get_by_role("heading", name="Billing").wait_for()
    return checkout_url


def test_a_new_person_signs_up_buys_credits_makes_a_video_exports_their_data_and_leaves(stack, browser):
    started = time.monotonic()
    visit = Visit(browser, stack, "journey", viewport={"width": 1280, "height": 860})
    page = visit.page
    email = f"web-{uuid.uuid4().hex[:10]}@example.com"
    try:
        # The cookie banner, before anything else: analytics stays off.
        visit.open()
        banner = page.get_by_role("region", name="Your privacy, your choice")
        banner.wait_for()
        visit.shot("home-with-cookie-banner")
        banner.get_by_role("button", name="Necessary only").click()
        banner.wait_for(state="detached")
        choice = page.evaluate("JSON.parse(localStorage.getItem('aisora.cookie_choice'))")
        assert choice["analytics"] is False

        # Sign up: the studio asks to confirm the address first, with a way to resend the link.
        page.get_by_role("link", name=re.compile("Start free")).first.click()
        page.get_by_role("heading", name="Create your account").wait_for()
        sign_up(visit, email)
        page.get_by_role("heading", name="Studio").wait_for()
        page.locator("#verify-first").get_by_text("get your 40 credits free").wait_for()
        assert page.locator("#verify-first").get_by_role("button", name="Send the link again").is_visible()
        assert page.locator("#studio-balance").inner_text() == "You have 0 credits"
        visit.shot("studio-confirm-email-first")
        # Once confirmed, the studio shows the 40 credits and the price of the default video.
        confirm_email(visit, email)
        page.locator("#credit-pill").get_by_text("40 credits").wait_for()
        assert page.locator("#studio-balance").inner_text() == "You have 40 credits"
        assert page.locator("#studio-price").inner_text() == "40 credits"
        visit.shot("studio-40-credits")
        # The choice made before signing up was sent to the account.
        status, activity = stack.call("GET", "/me/activity", token=visit.token())
        assert status == 200
        consents = [c for c in activity["changes"] if c["action"] == "consent_changed"]
        assert [c["fields"] for c in consents] == [["analytics"]], activity["changes"]

        # 100 credits bought through the checkout page: back on the billing page, the payment
        # is confirmed in words and the balance, the header and the history show it.
        page.get_by_role("link", name="Billing", exact=True).click()
        page.get_by_role("heading", name="Billing").wait_for()
        assert page.locator("#billing-credits").inner_text() == "40"
        page.get_by_role("button", name="Buy 100 credits").click()
        checkout_url = pay_at_the_local_checkout(visit, "100 credits", "$4.99", "local-checkout-100-credits")
        assert checkout_url.startswith(f"{visit.base}/billing/local-checkout/")
        page.locator("#checkout-outcome").get_by_text("Payment received: 100 credits added.").wait_for()
        assert page.locator("#billing-credits").inner_text() == "140"
        page.locator("#credit-pill").get_by_text("140 credits").wait_for()
        bought = page.locator("table.data-table tbody tr").filter(has_text="Credit pack")
        bought.get_by_text("+100").wait_for()
        # The notice is said once: the address no longer carries ?checkout=success.
        assert page.url == f"{visit.base}/#/billing", page.url
        visit.shot("billing-payment-received")
        status, me = stack.call("GET", "/me", token=visit.token())
        assert status == 200 and me["credits"] == 140 and me["plan"] == "free", me

        page.get_by_role("link", name="Studio", exact=True).click()
        page.get_by_role("heading", name="Studio").wait_for()
        page.locator("#studio-balance").get_by_text("You have 140 credits").wait_for()
        assert page.locator("#studio-price").inner_text() == "40 credits"
        # Sound costs more where the model offers it; a model without sound or an end image shows
        # neither, and the price follows each choice.
        sound = page.get_by_label("Sound", exact=True)
        sound.check()
        assert page.locator("#studio-price").inner_text() == "56 credits"
        sound.uncheck()
        page.get_by_label(re.compile(r"^Hailuo 2\.3")).check()
        assert page.locator("#studio-price").inner_text() == "36 credits"  # 6 s at 6 a second
        assert not sound.is_visible()
        assert not page.get_by_role("group", name=re.compile("^End image")).is_visible()
        assert page.get_by_role("group", name=re.compile("^Start image")).is_visible()
        visit.shot("studio-model-without-sound")
        page.get_by_label(re.compile(r"^Veo 3\.1 Fast")).check()
        assert page.get_by_role("group", name=re.compile("^End image")).is_visible()

        # An expired access token is renewed with the refresh token, once, without a word.
        refresh_before = visit.token("refresh")
        page.evaluate("sessionStorage.setItem('aisora.access_token', 'expired-or-bogus')")

        # A 4-second video: the progress bar moves while it renders.
        page.get_by_label("Prompt").fill("A red fox trotting through fresh snow at sunrise")
        page.get_by_label("4 seconds").check()
        page.get_by_role("button", name=re.compile("Generate video")).click()
        page.get_by_role("heading", name="My videos").wait_for()
        assert visit.token("refresh") not in (None, refresh_before)
        card = page.locator(".video-card").first
        progress = card.locator("progress")
        seen: list[tuple[str, float]] = []
        mid_shot = False
        deadline = time.monotonic() + RENDER_MS / 1000
        while time.monotonic() < deadline:
            state = card.get_attribute("data-status")
            value = progress.evaluate("p => p.hasAttribute('value') ? p.value : -1")
            seen.append((state, value))
            if state == "in_progress" and 0 < value < 100 and not mid_shot:
                visit.shot("video-rendering")
                mid_shot = True
            if state == "completed":
                break
            time.sleep(0.1)
        assert seen[-1][0] == "completed", seen
        assert any(s == "in_progress" and 0 < v < 100 for s, v in seen), seen
        assert page.locator("#credit-pill").inner_text().strip() == "100 credits"
        card.get_by_text("7 days left").wait_for()
        visit.shot("video-ready")

        # Played in the page: the <video> element knows it lasts about four seconds.
        card.get_by_role("button", name="Play", exact=True).click()
        video = card.locator("video")
        video.wait_for()
        page.wait_for_function("v => v.readyState >= 1 && Number.isFinite(v.duration)",
                               arg=video.element_handle(), timeout=STEP_MS)
        duration = video.evaluate("v => v.duration")
        assert abs(duration - 4) < 0.5, duration
        visit.shot("video-playing")

        # Downloaded through a link to the storage host: an MP4 file.
        with page.expect_download(timeout=STEP_MS) as download_info:
            card.get_by_role("button", name="Download").click()
        mp4 = ARTIFACTS / "journey-video.mp4"
        download_info.value.save_as(mp4)
        data = mp4.read_bytes()
        assert data[4:8] == b"ftyp" and len(data) > 10_000

        # The data export: started on the account page, followed until ready, downloaded.
        page.get_by_role("link", name="Account", exact=True).click()
        page.get_by_role("heading", name="Account", exact=True).wait_for()
        page.get_by_role("button", name="Export my data").click()
        link = page.locator("#export-download")
        link.wait_for(timeout=30_000)
        visit.shot("export-ready")
        with page.expect_download(timeout=STEP_MS) as export_info:
            link.click()
        archive = ARTIFACTS / "journey-export.zip"
        export_info.value.save_as(archive)
        with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as zf:
            names = zf.namelist()
        assert "account.json" in names and any(n.startswith("videos/") and n.endswith(".mp4") for n in names)

        # Closing the account asks for the password; afterwards signing in is refused in words.
        section = page.locator("#account-delete")
        section.get_by_label("Your password").fill("not my password")
        section.get_by_label(re.compile("I understand")).check()
        section.get_by_role("button", name="Delete my account").click()
        section.get_by_text("The password is wrong; the account was not closed.").wait_for()
        visit.shot("delete-wrong-password")
        section.get_by_label("Your password").fill(PASSWORD)
        section.get_by_role("button", name="Delete my account").click()
        page.get_by_role("heading", name="Your account is closed").wait_for()
        assert visit.token() is None and visit.token("refresh") is None
        visit.shot("account-closed")

        page.get_by_role("link", name="Sign in").click()
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("alert").get_by_text("The email or password is wrong.").wait_for()
        visit.shot("login-refused")
    except BaseException:
        visit.close(failed=True)
        raise
    visit.close()
    assert time.monotonic() - started < 90


def test_billing_sells_a_plan_through_the_checkout_and_an_invalid_signup_shows_why(stack, browser):
    visit = Visit(browser, stack, "billing", viewport={"width": 1280, "height": 860})
    page = visit.page
    try:
        visit.open("#/signup")
        page.get_by_role("region", name="Your privacy, your choice").get_by_role(
            "button", name="Allow analytics").click()
        today = date.today()
        sign_up(visit, f"kid-{uuid.uuid4().hex[:8]}@example.com", f"{today.year - 10}-01-15")
        message = page.get_by_text("You must be at least 13 years old to use AISora2.")
        message.wait_for()
        # Shown at the birth date field, which is marked invalid.
        assert page.get_by_label("Birth date").get_attribute("aria-invalid") == "true"
        visit.shot("signup-under-13")
        assert visit.token() is None

        page.get_by_label("Birth date").fill("1985-07-20")
        buyer = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
        page.get_by_label("Email", exact=True).fill(buyer)
        page.get_by_role("button", name="Create account").click()
        page.get_by_role("heading", name="Studio").wait_for()
        confirm_email(visit, buyer)

        page.get_by_role("link", name="Billing", exact=True).click()
        page.get_by_role("heading", name="Billing").wait_for()
        plans = page.locator(".plan-card")
        assert plans.count() == 4
        periods = [plans.nth(i).locator(".retention").inner_text() for i in range(4)]
        assert periods == [f"Videos stored for {d} days" for d in (7, 30, 60, 90)], periods
        assert page.locator(".plan-card.current").get_by_text("Your current plan").is_visible()
        assert page.locator("#billing-plan").inner_text() == "Free"

        # A checkout that cannot open (here an API without checkout: the router's 403) is said
        # in words, and the person stays on the billing page with nothing charged.
        page.route(re.compile(r"/billing/checkout$"), lambda route: route.fulfill(
            status=403, content_type="application/json", body='{"message": "Missing Authentication Token"}'))
        page.get_by_role("button", name="Buy 100 credits").click()
        page.get_by_role("alert").get_by_text("Payments are not available yet").wait_for()
        assert page.url == f"{visit.base}/#/billing"
        assert not any(LOCAL_CHECKOUT.search(url) for url in visit.navigations), visit.navigations
        assert page.locator("#billing-credits").inner_text() == "40"
        visit.shot("billing-checkout-unavailable")
        page.unroute(re.compile(r"/billing/checkout$"))

        # Leaving the checkout page by its Cancel link: back on billing, told nothing was charged.
        page.get_by_role("button", name="Buy 500 credits").click()
        page.wait_for_url(LOCAL_CHECKOUT)
        page.get_by_role("heading", name="500 credits", exact=True).wait_for()
        page.get_by_role("link", name="Cancel").click()
        page.get_by_text("Checkout was cancelled. Nothing was charged.").wait_for()
        assert page.locator("#billing-credits").inner_text() == "40"
        visit.shot("billing-checkout-cancelled")

        # Subscribing to Basic through the checkout: the plan, its storage period and its
        # monthly credits are there when the person comes back.
        page.get_by_role("button", name="Subscribe to Basic").click()
        page.wait_for_url(LOCAL_CHECKOUT)
        page.get_by_text("400 credits every month, videos kept 30 days").wait_for()
        pay_at_the_local_checkout(visit, "Basic plan", "$9.99 a month", "local-checkout-basic")
        page.locator("#checkout-outcome").get_by_text(
            "Payment received: you are on the Basic plan now. 400 credits added, "
            "and your videos are kept for 30 days.").wait_for()
        assert page.locator("#billing-plan").inner_text() == "Basic"
        assert page.locator("#billing-retention").inner_text() == "Videos stored for 30 days"
        current = page.locator(".plan-card.current")
        assert current.count() == 1 and current.locator("h3").inner_text() == "Basic"
        assert current.locator(".retention").inner_text() == "Videos stored for 30 days"
        current.get_by_text("Your current plan").wait_for()
        assert page.locator("#billing-credits").inner_text() == "440"
        page.locator("#credit-pill").get_by_text("440 credits").wait_for()
        granted = page.locator("table.data-table tbody tr").filter(has_text="Plan credits")
        granted.get_by_text("+400").wait_for()
        visit.shot("billing-basic-plan")
        status, me = stack.call("GET", "/me", token=visit.token())
        assert status == 200, me
        assert (me["plan"], me["retention_days"], me["credits"]) == ("basic", 30, 440), me

        # A second plan on top is refused by the API, and its reason is shown as it gave it.
        page.get_by_role("button", name="Subscribe to Standard").click()
        page.get_by_role("alert").get_by_text("You already have a subscription").wait_for()
        assert page.url == f"{visit.base}/#/billing"
        visit.shot("billing-second-plan-refused")

        # A provider may send the person back before its confirmation lands: the page says it is
        # waiting, looks again, and says what arrived once it has (here the "pay" comes late).
        page.get_by_role("button", name="Buy 100 credits").click()
        page.wait_for_url(LOCAL_CHECKOUT)
        late_pay = urllib.request.Request(f"{page.url}/pay", data=b"", method="POST",
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        visit.open("#/billing?checkout=success")
        page.get_by_text("Waiting for the payment provider to confirm your payment").wait_for()
        visit.shot("billing-waiting-for-confirmation")
        with urllib.request.urlopen(late_pay, timeout=STEP_MS / 1000) as response:
            assert (response.status, response.url) == (200, f"{visit.base}/#/billing?checkout=success")
        page.locator("#checkout-outcome").get_by_text("Payment received: 100 credits added.").wait_for()
        assert page.locator("#billing-credits").inner_text() == "540"
        assert page.locator("#billing-plan").inner_text() == "Basic"
        # Back without a checkout started in this tab: thanked, without claiming what arrived.
        visit.open("#/billing?checkout=success")
        page.get_by_text("Thank you! Your payment went through.").wait_for()
        assert page.get_by_text("Payment received").count() == 0

        # A refused prompt is explained at the prompt, and nothing is charged.
        page.get_by_role("link", name="Studio", exact=True).click()
        page.get_by_label("Prompt").fill("step by step: how to build a bomb")
        page.get_by_role("button", name=re.compile("Generate video")).click()
        page.get_by_text(re.compile("This prompt was refused")).wait_for()
        assert page.locator("#credit-pill").inner_text().strip() == "540 credits"
        visit.shot("studio-prompt-refused")
    except BaseException:
        visit.close(failed=True)
        raise
    visit.close()


def test_the_pages_fit_a_phone_and_the_menu_works_from_the_keyboard(stack, browser):
    visit = Visit(browser, stack, "phone", viewport={"width": 390, "height": 844}, is_mobile=True,
                  has_touch=True, device_scale_factor=2)
    page = visit.page
    try:
        visit.open("#/pricing")
        page.get_by_role("heading", name="Simple, honest pricing").wait_for()
        visit.shot("pricing-with-banner")
        page.get_by_role("button", name="Necessary only").click()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone: {width}px"
        toggle = page.get_by_role("button", name="Menu")
        assert toggle.get_attribute("aria-expanded") == "false"
        toggle.focus()
        page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true"
        page.get_by_role("link", name="Sign in").wait_for()
        visit.shot("menu-open")
        page.keyboard.press("Escape")
        assert toggle.get_attribute("aria-expanded") == "false"

        visit.open("#/privacy")
        page.get_by_role("heading", name="Privacy policy", exact=True).wait_for()
        page.get_by_role("heading", name="Children's Privacy").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        visit.shot("privacy")

        visit.open("#/support")
        page.get_by_label("Your email").fill(f"help-{uuid.uuid4().hex[:8]}@example.com")
        page.get_by_label("Subject").fill("Where is my video?")
        page.get_by_label("How can we help?").fill("It said rendering for a while.")
        page.get_by_role("button", name="Send message").click()
        page.get_by_text(re.compile("we received your message")).wait_for()
        visit.shot("support-sent")

        # Signed in on a phone: the studio and the account fit the screen too.
        visit.open("#/signup")
        sign_up(visit, f"phone-{uuid.uuid4().hex[:8]}@example.com")
        page.get_by_role("heading", name="Studio").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        visit.shot("studio")
        visit.open("#/account")
        page.get_by_role("heading", name="Delete account").wait_for()
        # Measured once the sessions table (wide, loaded a moment later) is on the page too.
        page.locator("#account-security table").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        visit.shot("account")
    except BaseException:
        visit.close(failed=True)
        raise
    visit.close()


def _png(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(out, format="PNG")
    return out.getvalue()


def _kept_reference(color: tuple[int, int, int], seconds: float) -> tuple[int, int] | None:
    """The size of the local renderer's copy of a reference image of this one colour, if one
    appears (the copy is encoded anew and fitted to the video, so its bytes are its own)."""
    from PIL import Image

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for kept in (ROOT / ".local" / "renders").glob("local_*/reference"):
            try:
                with Image.open(kept) as image:
                    if image.convert("RGB").getpixel((image.width // 2, image.height // 2)) == color:
                        return image.size
            except OSError:
                continue  # still being written
        time.sleep(0.2)
    return None


def test_a_reference_image_is_uploaded_from_the_studio_and_refusals_say_why(stack, browser):
    visit = Visit(browser, stack, "reference", viewport={"width": 1280, "height": 860})
    page = visit.page
    uploads: list[tuple[str, int]] = []
    videos: list[int] = []

    def answered(response) -> None:
        if response.request.method == "POST":
            if response.url.startswith(f"http://127.0.0.1:{stack.moto_port}/"):
                uploads.append((response.url, response.status))
            elif urlsplit(response.url).path == "/videos":
                videos.append(response.status)

    page.on("response", answered)
    try:
        visit.open("#/signup")
        page.get_by_role("button", name="Necessary only").click()
        sign_up(visit, referrer := f"ref-{uuid.uuid4().hex[:8]}@example.com")
        page.get_by_role("heading", name="Studio").wait_for()
        confirm_email(visit, referrer)
        page.locator("#studio-balance").get_by_text("You have 40 credits").wait_for()
        # The page may talk to the storage host (presigned uploads) and to nothing else.
        policy = page.evaluate("fetch('/').then(r => r.headers.get('content-security-policy'))")
        connect = re.search(r"connect-src ([^;]+)", policy).group(1).split()
        assert connect == ["'self'", f"http://127.0.0.1:{stack.moto_port}"], policy
        page.get_by_label("Prompt").fill("A lighthouse on a cliff at dusk, waves below")
        generate = page.get_by_role("button", name=re.compile("Generate video"))
        file_field = page.get_by_label("Image file", exact=True)
        address = page.get_by_label("Image address", exact=True)
        assert not file_field.is_visible() and not address.is_visible()

        # An address on this machine: the server will not fetch it, and says why at the field.
        page.get_by_label("From a web address", exact=True).check()
        address.fill("http://127.0.0.1/cat.png")
        generate.click()
        refused = page.locator(f"#{address.get_attribute('id')}-error")
        refused.get_by_text("The reference image was refused").wait_for()
        assert address.get_attribute("aria-invalid") == "true"
        assert re.search(r"not allowed|private|loopback|public", refused.inner_text(), re.IGNORECASE), \
            refused.inner_text()
        assert videos == [422], videos
        visit.shot("reference-url-refused")

        # The page's own checks come first, in words: a PDF is not an image.
        page.get_by_label("Upload an image", exact=True).check()
        file_field.set_input_files({"name": "notes.pdf", "mimeType": "application/pdf",
                                    "buffer": b"%PDF-1.4"})
        file_error = page.locator(f"#{file_field.get_attribute('id')}-error")
        file_error.get_by_text("“notes.pdf” is not a JPEG, PNG or WebP image").wait_for()
        generate.click()
        file_error.get_by_text("“notes.pdf” is not a JPEG, PNG or WebP image").wait_for()
        assert uploads == [] and videos == [422], (uploads, videos)

        # Text dressed up as a PNG: uploaded (the page cannot tell), then refused by its bytes.
        file_field.set_input_files({"name": "holiday.png", "mimeType": "image/png",
                                    "buffer": b"just some text, not a picture at all\n" * 4})
        page.locator(".reference-preview").get_by_text("holiday.png").wait_for()
        generate.click()
        file_error.get_by_text("The file is not a JPEG, PNG or WebP image.").wait_for()
        assert file_field.get_attribute("aria-invalid") == "true"
        assert [status for _, status in uploads] == [204], uploads
        # Asked again while the image was being checked (409), then refused (422).
        assert videos[0] == 422 and videos[-1] == 422 and set(videos[1:-1]) <= {409}, videos
        mark = len(videos)
        visit.shot("reference-disguised-file-refused")

        # The bucket's CORS rule (bootstrap's, for this stack's origin) answers a preflight for
        # the page's origin and refuses any other.
        bucket_url = uploads[0][0]
        for origin, expected in ((visit.base, 200), ("http://127.0.0.1:1", 403)):
            preflight = urllib.request.Request(bucket_url, method="OPTIONS", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST"})
            try:
                with urllib.request.urlopen(preflight, timeout=5) as response:
                    status, allowed = response.status, response.headers.get("Access-Control-Allow-Origin")
            except urllib.error.HTTPError as error:
                status, allowed = error.code, None
            assert status == expected, (origin, status)
            assert status != 200 or allowed == origin, allowed

        # Nothing was charged for either refusal.
        status, me = stack.call("GET", "/me", token=visit.token())
        assert status == 200 and me["credits"] == 40, me
        assert page.locator("#credit-pill").inner_text().strip() == "40 credits"

        # A real PNG: uploaded straight to storage, checked, and the video is accepted.
        color = (uuid.uuid4().int % 256, 90, 200)
        picture = _png(color)
        file_field.set_input_files({"name": "lighthouse.png", "mimeType": "image/png", "buffer": picture})
        page.locator(".reference-preview").get_by_text("lighthouse.png").wait_for()
        assert file_error.is_hidden()
        visit.shot("reference-chosen")
        page.evaluate("""() => {
            window.__said = [];
            const status = document.querySelector('.reference-status');
            new MutationObserver(() => window.__said.push(status.textContent))
                .observe(status, {childList: true, characterData: true, subtree: true});
        }""")
        generate.click()
        page.get_by_role("heading", name="My videos").wait_for()
        card = page.locator(".video-card.highlight")
        card.wait_for()
        assert card.get_attribute("data-status") in ("queued", "in_progress", "completed")
        assert [status for _, status in uploads] == [204, 204], uploads
        assert videos[-1] == 202 and set(videos[mark:-1]) <= {409}, videos
        # What the person was told while waiting (the router keeps the window: hash routes).
        said = page.evaluate("window.__said")
        assert "Uploading your image…" in said, said
        if 409 in videos[mark:]:
            assert "Checking your image…" in said, said
        page.locator("#credit-pill").get_by_text("0 credits").wait_for()
        visit.shot("reference-video-accepted")
        # The picture reached the video provider (the local renderer keeps what it was given),
        # fitted from its 64x36 to the video's size.
        assert _kept_reference(color, STEP_MS / 1000) in {(720, 1280), (1280, 720)}
    except BaseException:
        visit.close(failed=True)
        raise
    visit.close()


def _mailed_link(stack: Stack, to: str, route: str) -> str:
    """The route and token of the newest mail to `to` linking to `route` (the local mailbox)."""
    deadline = time.monotonic() + STEP_MS / 1000
    while time.monotonic() < deadline:
        url = f"http://127.0.0.1:{stack.moto_port}/moto-api/data.json"
        with urllib.request.urlopen(url, timeout=5) as response:
            messages = json.load(response).get("ses", {}).get("Message", [])
        for message in reversed(messages):
            if to in message.get("destinations", {}).get("ToAddresses", []):
                found = re.search(rf"#/{route}\?token=[^\s\"'<>]+", message.get("body") or "")
                if found:
                    return found.group(0)
        time.sleep(0.2)
    pytest.fail(f"no mail to {to} with a {route} link")


def test_the_emailed_links_confirm_the_address_and_reset_the_password(stack, browser):
    visit = Visit(browser, stack, "links", viewport={"width": 1280, "height": 860})
    page = visit.page
    email = f"links-{uuid.uuid4().hex[:8]}@example.com"
    try:
        visit.open("#/signup")
        page.get_by_role("button", name="Necessary only").click()
        sign_up(visit, email)
        page.get_by_role("heading", name="Studio").wait_for()
        page.get_by_text("Confirm your email to make videos").wait_for()

        visit.open(_mailed_link(stack, email, "verify-email"))
        page.get_by_text(f"Thank you — {email} is confirmed.").wait_for()
        visit.shot("email-confirmed")
        page.get_by_role("link", name="Account", exact=True).click()
        page.locator("#account-email").get_by_text("Confirmed").wait_for()
        # A link used once does not work twice, and says so.
        visit.open(_mailed_link(stack, email, "verify-email"))
        page.get_by_text(f"This link was already used: {email} is confirmed.").wait_for()
        visit.shot("email-link-used")

        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("You are signed out.").wait_for()
        visit.open("#/login")
        page.get_by_role("link", name="Forgot your password?").click()
        # The sign-in form has an Email field too: fill the reset form's, once it is there.
        page.get_by_role("heading", name="Reset your password").wait_for()
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Email me a reset link").click()
        page.get_by_text("a reset link is on its way").wait_for()
        visit.open(_mailed_link(stack, email, "reset-password"))
        page.get_by_label("New password", exact=True).fill("password")
        page.get_by_label("Type it again").fill("password")
        page.get_by_role("button", name="Set new password").click()
        page.get_by_text(re.compile("common|guess", re.IGNORECASE)).first.wait_for()
        visit.shot("reset-weak-password")
        new_password = "amber lantern over quiet docks"
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("Type it again").fill(new_password)
        page.get_by_role("button", name="Set new password").click()
        # The reset signs this device in.
        page.get_by_role("heading", name="Studio").wait_for()
        page.get_by_text("Your password is changed").wait_for()
        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("You are signed out.").last.wait_for()  # the first sign-out's may linger
        visit.open("#/login")
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(new_password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("heading", name="Studio").wait_for()
        visit.shot("signed-in-with-new-password")
    except BaseException:
        visit.close(failed=True)
        raise
    visit.close()
