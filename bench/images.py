"""Reference images: peak memory of checking about the largest picture allowed (24 megapixels,
turned by its EXIF orientation, with a colour profile) and of fitting the kept copy to a video,
each in a fresh interpreter, as the upload check, the API (a reference URL) and the worker run
them in Lambda. Those functions have 1024 MB; goal: under half of it above the baseline.

    make bench        (or: .venv/bin/python bench/images.py)
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table
from bench.table import Row

TITLE = "reference images (the largest allowed; fresh interpreter each)"
GOAL_MB = 512
SIZE = (6000, 4000)  # 24 megapixels, the most MAX_PIXELS lets through, about

# The peak is the kernel's high-water mark of this process's memory (VmHWM, in kB). Not
# ru_maxrss: a child started from a big parent inherits the parent's.
PROBE = """
import json, re, sys
sys.path.insert(0, sys.argv[1])
from chalicelib.adapters import images
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
data = open(sys.argv[2], "rb").read()
import PIL.Image, PIL.ImageCms, PIL.ImageOps, PIL.WebPImagePlugin, PIL.PngImagePlugin, PIL.JpegImagePlugin
baseline = peak()
kept = images.clean(data)
checked = peak()
fitted = images.fit(kept, "720x1280")
print(json.dumps({"check_mb": checked - baseline, "fit_mb": peak() - baseline,
                  "kept": [kept.width, kept.height], "kept_bytes": len(kept.data),
                  "fitted": [fitted.width, fitted.height]}))
"""


def picture(kind: str) -> bytes:
    from PIL import Image, ImageCms, ImageDraw

    image = Image.new("RGBA" if kind != "JPEG" else "RGB", SIZE, (40, 120, 200, 255))
    draw = ImageDraw.Draw(image)
    for x in range(0, SIZE[0], 97):  # some detail, so that encoders have work to do
        draw.line([(x, 0), (SIZE[0] - x, SIZE[1])], fill=(x % 256, 80, 160), width=3)
    exif = Image.Exif()
    exif[0x0112] = 6  # taken with the phone turned
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    options = {"JPEG": {"quality": 90}, "PNG": {}, "WEBP": {"lossless": True}}[kind]
    image.save(out, kind, exif=exif.tobytes(), icc_profile=icc, **options)
    return out.getvalue()


def measure() -> list[Row]:
    root = Path(__file__).resolve().parents[1]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("JPEG", "PNG", "WEBP"):
            path = Path(tmp) / kind
            path.write_bytes(picture(kind))
            answer = subprocess.run([sys.executable, "-c", PROBE, str(root), str(path)],
                                    capture_output=True, text=True, check=True)
            figures = json.loads(answer.stdout.strip().splitlines()[-1])
            peak = max(figures["check_mb"], figures["fit_mb"])
            rows.append(Row(
                f"{kind} {SIZE[0]}x{SIZE[1]} ({path.stat().st_size / 1e6:.1f} MB): check, then fit",
                f"{figures['check_mb']:.0f} MB, {figures['fit_mb']:.0f} MB",
                "above the interpreter's baseline", f"goal < {GOAL_MB} MB", table.verdict(peak < GOAL_MB),
                f"kept {figures['kept'][0]}x{figures['kept'][1]} ({figures['kept_bytes'] / 1e6:.1f} MB), "
                f"fitted {figures['fitted'][0]}x{figures['fitted'][1]}"))
    return rows


if __name__ == "__main__":
    table.main(TITLE, measure)
