"""Small hand-made flow logs for tests, with known expected results."""

from __future__ import annotations

import gzip as gzip_module
import io

from django.core.files.uploadedfile import SimpleUploadedFile

T0 = 1_763_900_000  # 2025-11-23T12:13:20Z; every record is inside [T0, T0 + 600]

# Default v2 format. 7 analysable records, 1 NODATA, 1 malformed line.
SAMPLE_LINES = [
    f"2 123456789012 eni-0a1 203.0.113.50 10.0.1.10 51000 22 6 10 600 {T0} {T0 + 60} REJECT OK",
    f"2 123456789012 eni-0a1 203.0.113.50 10.0.1.10 51001 22 6 12 720 {T0 + 5} {T0 + 65} REJECT OK",
    f"2 123456789012 eni-0a1 203.0.113.50 10.0.1.10 51002 22 6 40 9000 {T0 + 9} {T0 + 70} ACCEPT OK",
    f"2 123456789012 eni-0a1 198.51.100.7 10.0.1.10 40000 22 6 5 300 {T0 + 10} {T0 + 70} ACCEPT OK",
    f"2 123456789012 eni-0a1 10.0.1.10 198.51.100.7 22 40000 6 5 500 {T0 + 10} {T0 + 70} ACCEPT OK",
    f"2 123456789012 eni-0a1 10.0.1.10 10.0.0.2 53000 53 17 1 80 {T0 + 20} {T0 + 80} ACCEPT OK",
    f"2 123456789012 eni-0a1 192.0.2.9 10.0.1.10 0 0 1 3 252 {T0 + 30} {T0 + 90} REJECT OK",
    f"2 123456789012 eni-0a1 - - - - - - - {T0 + 100} {T0 + 160} - NODATA",
    "this line is not a flow record",
]
SAMPLE_TEXT = "\n".join(SAMPLE_LINES) + "\n"


def sample_upload(name: str = "sample.log", *, gzip: bool = False) -> SimpleUploadedFile:
    data = SAMPLE_TEXT.encode()
    if gzip:
        buffer = io.BytesIO()
        with gzip_module.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
            out.write(data)
        data = buffer.getvalue()
        name = name if name.endswith(".gz") else name + ".gz"
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")
