"""A small picture with alpha, pasted onto frames: the one way overlays (captions, sprites,
thumbnails, picture-in-picture) get onto a video."""

from __future__ import annotations

from PIL import Image

from .encode import Planes


class Overlay:
    """A small picture with alpha, pasted onto every frame in RGB or straight into YUV planes."""

    def __init__(self, rgb: Image.Image, alpha: Image.Image):
        even_size = (rgb.width + rgb.width % 2, rgb.height + rgb.height % 2)
        self.rgb, self.alpha = rgb.resize(even_size), alpha.resize(even_size)
        self.planes = Planes.from_rgb(self.rgb)
        self.alphas = (self.alpha, self.alpha.reduce(2))

    def paste(self, frame: Image.Image | Planes, pos: tuple[int, int]) -> None:
        if isinstance(frame, Planes):
            frame.paste(self.planes, (pos[0] - pos[0] % 2, pos[1] - pos[1] % 2), self.alphas)
        else:
            frame.paste(self.rgb, pos, self.alpha)
