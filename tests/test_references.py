"""Reference images: checked by their bytes, stripped of metadata, fetched from URLs only
behind the SSRF guard, and uploaded straight to the bucket then checked by the bucket event."""

from __future__ import annotations

import io
import struct
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from conftest import empty_queue, get, post
from fakes import ScriptedProvider
from PIL import Image, ImageCms, PngImagePlugin

from chalicelib.adapters import images
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.safe_fetch import FetchRefused, SafeFetcher, is_public
from chalicelib.adapters.storage import MediaStore
from chalicelib.local.pump import EventPump
from chalicelib.models import VideoJob
from chalicelib.services import generation

VIDEO = {"prompt": "The same cat, now on the moon", "seconds": 4, "size": "720x1280"}


def picture(kind: str, size=(64, 48), with_metadata=True) -> bytes:
    image = Image.new("RGB", size, (200, 80, 40))
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x013B] = "Jane Photographer"  # Artist
    if kind == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", "Jane Photographer")
        image.save(out, "PNG", pnginfo=info if with_metadata else None)
    else:
        image.save(out, kind, exif=exif.tobytes() if with_metadata else b"")
    return out.getvalue()


# --- checking the bytes ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
def test_metadata_is_dropped_and_the_picture_kept(kind):
    original = picture(kind)
    assert b"Jane Photographer" in original
    cleaned = images.clean(original)
    assert (cleaned.width, cleaned.height) == (64, 48)
    assert b"Jane Photographer" not in cleaned.data and b"SecretCam" not in cleaned.data
    with Image.open(io.BytesIO(cleaned.data)) as reopened:
        reopened.load()
        assert reopened.size == (64, 48)
        assert reopened.convert("RGB").getpixel((5, 5)) == pytest.approx((200, 80, 40), abs=8)


def test_a_pixel_bomb_is_refused_without_being_decoded():
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    bomb = b"\x89PNG\r\n\x1a\n" + chunk + end
    with pytest.raises(images.ImageRefused, match="megapixels"):
        images.clean(bomb)


def test_a_picture_over_the_limit_is_refused_from_its_header_before_decoding():
    # 48 megapixels: under Pillow's own bomb limit, over ours. There is no pixel data at all, so a
    # decoder that ran would call it damaged; the header alone must refuse it.
    ihdr = struct.pack(">IIBBBBB", 8000, 6000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    with pytest.raises(images.ImageRefused, match="8000x6000; at most 25 megapixels"):
        images.clean(b"\x89PNG\r\n\x1a\n" + chunk + end)


@pytest.mark.parametrize(("kind", "after_the_picture"), [("JPEG", b"\xff\xd9"), ("PNG", b"IEND")])
def test_only_the_picture_survives_not_what_hides_after_it(kind, after_the_picture):
    polyglot = picture(kind) + b"PK\x03\x04<script>alert('stowaway')</script>"
    cleaned = images.clean(polyglot)
    assert b"stowaway" not in cleaned.data and b"PK\x03\x04" not in cleaned.data
    assert cleaned.data.rstrip(b"\x00\xaeB`\x82").endswith(after_the_picture)


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("with_profile", [False, True], ids=["no profile", "with a colour profile"])
def test_the_picture_is_turned_upright_as_its_owner_saw_it(kind, with_profile):
    # Phones write both: the orientation, and a colour profile (whose conversion keeps no EXIF).
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned a quarter; shown rotated 90 degrees
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes() if with_profile else None
    Image.new("RGB", (64, 48), (10, 200, 10)).save(out, kind, exif=exif.tobytes(), icc_profile=profile)
    cleaned = images.clean(out.getvalue())
    assert (cleaned.width, cleaned.height) == (48, 64)
    with Image.open(io.BytesIO(cleaned.data)) as reopened:
        assert reopened.size == (48, 64) and 0x0112 not in reopened.getexif()


def test_a_large_photo_is_kept_no_larger_than_any_video_needs():
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (90, 90, 200)).save(out, "JPEG", quality=95)
    cleaned = images.clean(out.getvalue())
    assert (cleaned.width, cleaned.height) == (images.WORKING_SIDE, 1536)
    assert images.fit(cleaned, "1792x1024").width == 1792


def test_cmyk_and_transparency_come_out_as_a_provider_reads_them():
    cmyk = io.BytesIO()
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(cmyk, "JPEG")
    with Image.open(io.BytesIO(images.clean(cmyk.getvalue()).data)) as reopened:
        assert reopened.mode == "RGB"
        assert reopened.getpixel((16, 16)) == pytest.approx((255, 0, 0), abs=12)
    clear = Image.new("RGBA", (32, 32), (0, 0, 255, 255))
    clear.putpixel((0, 0), (0, 0, 0, 0))
    out = io.BytesIO()
    clear.save(out, "PNG")
    with Image.open(io.BytesIO(images.clean(out.getvalue()).data)) as reopened:
        assert reopened.mode == "RGBA"
        assert reopened.getpixel((0, 0))[3] == 0 and reopened.getpixel((5, 5)) == (0, 0, 255, 255)


def striped(size=(300, 100)) -> bytes:
    """Red, green and blue thirds from left to right."""
    image = Image.new("RGB", size)
    third = size[0] // 3
    for index, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        image.paste(colour, (index * third, 0, (index + 1) * third, size[1]))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(("size", "left_edge"), [
    ("720x1280", (0, 255, 0)),  # portrait from a wide picture: only the middle third is left
    ("1280x720", (255, 0, 0)),  # 3:1 into 16:9: the sides lose a little, the red stays
])
def test_fit_covers_the_video_size_and_crops_about_the_centre(size, left_edge):
    fitted = images.fit(images.clean(striped()), size)
    width, height = (int(side) for side in size.split("x"))
    assert (fitted.width, fitted.height, fitted.content_type) == (width, height, "image/png")
    with Image.open(io.BytesIO(fitted.data)) as reopened:
        assert reopened.size == (width, height)
        assert reopened.getpixel((width // 2, height // 2)) == (0, 255, 0)
        assert reopened.getpixel((2, height // 2)) == pytest.approx(left_edge, abs=4)


def test_a_picture_already_the_right_size_is_passed_through_untouched():
    exact = images.clean(striped((720, 1280)))
    assert images.fit(exact, "720x1280").data == exact.data


@pytest.mark.parametrize(("data", "declared", "reason"), [
    (b"GIF89a" + b"\x00" * 40, None, "not a JPEG, PNG or WebP"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None, "not a JPEG, PNG or WebP"),
    (None, "image/png", "declared image/png but is a JPEG"),
    (b"\xff\xd8\xff\xe0\x00", None, "damaged"),
    (b"\x00" * (images.MAX_BYTES + 1), None, "larger than 10 MiB"),
])
def test_what_is_not_a_clean_image_is_refused_with_a_reason(data, declared, reason):
    with pytest.raises(images.ImageRefused, match=reason):
        images.clean(data if data is not None else picture("JPEG"), declared)


# --- the SSRF guard -------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/cat.png", "http://localhost/cat.png", "http://[::1]/cat.png",
    "http://0.0.0.0/cat.png", "http://2130706433/cat.png", "http://0177.0.0.1/cat.png",
    "http://0x7f000001/cat.png", "http://127.1/cat.png", "http://[::ffff:127.0.0.1]/cat.png",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/", "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/", "http://100.64.0.1/cat.png", "http://10.1.2.3/cat.png",
    "http://172.16.5.4/cat.png", "http://192.168.0.1/cat.png", "http://224.0.0.1/cat.png",
    "http://[fe80::1]/cat.png", "ftp://198.51.100.7/cat.png", "file:///etc/passwd",
    "gopher://198.51.100.7/", "http://8.8.8.8:8080/cat.png", "https://8.8.8.8:22/cat.png",
    "http://user:secret@8.8.8.8/cat.png", "http:///cat.png",
])
def test_the_guard_refuses_anything_but_public_web_addresses(url):
    with pytest.raises(FetchRefused):
        SafeFetcher().fetch(url)


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("127.0.0.1", False), ("10.0.0.1", False),
    ("100.100.100.200", False), ("::ffff:10.0.0.1", False), ("169.254.169.254", False),
    ("fc00::1", False), ("255.255.255.255", False), ("2001:db8::1", False),
])
def test_public_means_globally_routable(address, public):
    assert is_public(address) is public


class Site:
    """A small web server on loopback that the guard is told to treat as public."""

    def __init__(self, routes):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, headers, body = site.routes(self.path, site.port)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.routes = routes
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.answers = {"cdn.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]}
        self.resolved: list[str] = []

    def resolve(self, host, port):
        self.resolved.append(host)
        return self.answers.get(host, ["10.9.9.9"])

    def fetcher(self) -> SafeFetcher:
        return SafeFetcher(resolve=self.resolve, allowed=lambda a: a == "127.0.0.1" or is_public(a),
                           ports={"http": self.port, "https": 443})

    def url(self, path):
        return f"http://cdn.test:{self.port}{path}"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def site():
    png = picture("PNG")

    def routes(path, port):
        if path == "/cat.png":
            return 200, {"Content-Type": "image/png"}, png
        if path == "/to-metadata":
            return 302, {"Location": f"http://metadata.test:{port}/latest/meta-data/"}, b""
        if path.startswith("/hop"):
            n = int(path[4:])
            return 302, {"Location": f"/hop{n + 1}" if n < 9 else "/cat.png"}, b""
        if path == "/huge":
            return 200, {"Content-Type": "image/png"}, b"\x89PNG" + b"\x00" * (10 * 1024 * 1024 + 10)
        return 404, {}, b""

    server = Site(routes)
    yield server
    server.close()


def test_a_public_image_is_fetched(site):
    fetched = site.fetcher().fetch(site.url("/cat.png"))
    assert images.clean(fetched.data).width == 64


def test_a_redirect_to_a_private_address_is_refused(site):
    with pytest.raises(FetchRefused, match="private"):
        site.fetcher().fetch(site.url("/to-metadata"))


def test_more_than_three_redirects_are_refused(site):
    assert site.fetcher().fetch(site.url("/hop7")).data  # 3 hops: fine
    with pytest.raises(FetchRefused, match="more than 3"):
        site.fetcher().fetch(site.url("/hop1"))


def test_a_dns_answer_that_changes_after_the_check_is_never_used(site):
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    fetcher = SafeFetcher(resolve=lambda host, port: next(answers),
                          allowed=lambda a: a == "127.0.0.1", ports={"http": site.port, "https": 443})
    assert fetcher.fetch(site.url("/cat.png")).data  # resolved once, connected to what was checked


def test_more_than_10_mib_is_refused(site):
    with pytest.raises(FetchRefused, match="10 MiB"):
        site.fetcher().fetch(site.url("/huge"))


# --- uploads, through the bucket's event --------------------------------------------------------


def upload(client, token, data: bytes, content_type: str) -> str:
    grant = post(client, "/uploads", {"content_type": content_type, "size": len(data)}, token)
    assert grant.status_code == 201, grant.json_body
    answer = requests.post(grant.json_body["url"], data=grant.json_body["fields"],
                           files={"file": ("ref", data, content_type)}, timeout=10)
    assert answer.status_code in (200, 204), answer.text
    return grant.json_body["upload_id"]


@pytest.fixture
def pump(world):
    from app import app

    empty_queue(world.queue_urls["JobsQueue"])
    return EventPump(app, prefix="aisora-dev")


def test_an_uploaded_image_is_checked_cleaned_and_handed_to_the_provider(client, user, world, pump):
    token = user["access_token"]
    upload_id = upload(client, token, picture("JPEG"), "image/jpeg")
    early = post(client, "/videos", {**VIDEO, "reference_upload_id": upload_id}, token)
    assert early.status_code == 409  # not checked yet: nothing charged
    pump.pump_queues()  # the bucket's object-created event reaches check_upload
    created = post(client, "/videos", {**VIDEO, "reference_upload_id": upload_id}, token)
    assert created.status_code == 202, created.json_body
    job = VideoJob.get(created.json_body["id"])
    assert job.reference_key == f"references/{job.user_id}/{upload_id}"
    provider = ScriptedProvider()
    queue = aws_queue()
    deps = generation.Dependencies(MessageQueue(queue), MediaStore(world.bucket), {"local": provider},
                                   300, 0)
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    (reference,) = provider.references
    assert reference.content_type == "image/jpeg" and b"Jane Photographer" not in reference.data
    with Image.open(io.BytesIO(reference.data)) as sent:
        assert sent.size == (720, 1280)  # fitted to the video's size, as providers require


def test_a_stored_reference_that_no_longer_reads_fails_the_job_and_refunds_it(client, user, world):
    token = user["access_token"]
    user_id = get(client, "/me", token).json_body["id"]
    store = MediaStore(world.bucket)
    key = f"references/{user_id}/{uuid.uuid4().hex}"
    store.put_bytes(key, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
    spec = generation.parse_request(VIDEO)
    deps = generation.Dependencies(MessageQueue(aws_queue()), store, {"local": ScriptedProvider()},
                                   300, 0)
    job_id = generation.create_video(user_id, spec, deps, key)["id"]
    assert get(client, "/me", token).json_body["credits"] < 40
    for _ in range(2):  # a redelivered message changes nothing more
        generation.handle_message({"job_id": job_id, "action": "submit"}, deps)
    failed = get(client, f"/videos/{job_id}", token).json_body
    assert failed["status"] == "failed" and failed["error"]["code"] == "refused"
    assert "reference image was refused" in failed["error"]["message"]
    assert deps.engines["local"].references == []
    assert get(client, "/me", token).json_body["credits"] == 40


def aws_queue() -> str:
    from chalicelib import aws

    return aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]


def test_a_disguised_upload_is_refused_with_its_reason_and_charges_nothing(client, user, pump):
    token = user["access_token"]
    upload_id = upload(client, token, b"#!/bin/sh\necho not an image\n", "image/png")
    pump.pump_queues()
    response = post(client, "/videos", {**VIDEO, "reference_upload_id": upload_id}, token)
    assert response.status_code == 422
    assert "not a JPEG, PNG or WebP" in response.json_body["error"]["message"]
    assert get(client, "/me", token).json_body["credits"] == 40


@pytest.mark.parametrize(("body", "field"), [
    ({"content_type": "image/gif", "size": 10}, "content_type"),
    ({"content_type": "image/png", "size": 10 * 1024 * 1024 + 1}, "size"),
    ({"content_type": "image/png", "size": 0}, "size"),
    ({"content_type": "image/png"}, "size"),
])
def test_an_upload_outside_the_rules_is_refused(client, user, body, field):
    response = post(client, "/uploads", body, user["access_token"])
    assert response.status_code == 422 and response.json_body["error"]["field"] == field


def test_a_private_reference_url_is_refused_before_any_credit_moves(client, user):
    token = user["access_token"]
    response = post(client, "/videos", {**VIDEO, "reference_url": "http://169.254.169.254/latest/"}, token)
    assert response.status_code == 422 and response.json_body["error"]["field"] == "reference_url"
    assert get(client, "/me", token).json_body["credits"] == 40
    both = post(client, "/videos", {**VIDEO, "reference_url": "http://x", "reference_upload_id": "y"}, token)
    assert both.status_code == 422
