"""QR codes drawn on the server as inline SVG: the TOTP secret never leaves this site (no
third-party QR service), and inline SVG needs no script or data: URL under the strict CSP."""

import qrcode
import qrcode.image.svg


def qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    # Drop the XML declaration: the markup goes inside an HTML page.
    return svg[svg.index("<svg") :]
