"""DRAW's selective attention (Gregor et al. 2015, section 3.2, eqs. 19-29): an N x N grid of 2-D Gaussian
filters whose centre, stride, width and intensity the decoder chooses at every glimpse.

From five numbers per picture, (g~x, g~y, log sigma^2, log delta~, log gamma) = W(h_dec) (eq. 21):
    g_x = (A + 1) / 2 (g~x + 1),  g_y = (B + 1) / 2 (g~y + 1)                 (eqs. 22, 23)
    delta = (max(A, B) - 1) / (N - 1) * delta~                              (eq. 24)
    mu_x^i = g_x + (i - N/2 - 0.5) delta,  mu_y^j = g_y + (j - N/2 - 0.5) delta,  i, j = 1..N  (eqs. 19, 20)
    F_x[i, a] = exp(-(a - mu_x^i)^2 / (2 sigma^2)) / Z_x,  Z_x = sum_a of the numerator  (eqs. 25, 26)
for an image A px wide and B px high. Pixel coordinates are 1-based, a = 1..A and b = 1..B, as the paper's
centre formula implies: g~ = 0 puts the grid's centre at (A + 1) / 2, the image's middle, and delta~ = 1
with N = A spans the pixels 1..A exactly. (Ports that use a = 0..A-1 with that centre are off by one
pixel.) Then
    read  = gamma [F_y x F_x^T, F_y x_hat F_x^T]                              (eq. 27)
    write = (1 / gamma^) F_y^T w F_x,  w an N x N patch                        (eq. 29)
each applied per channel, the write with its own five numbers (its own linear layer of h_dec).
"""

from typing import NamedTuple

import torch
from torch import Tensor

ATTENTION_PARAMETERS = 5  # g~x, g~y, log sigma^2, log delta~, log gamma
_EPS = 1e-8  # in Z: a grid entirely off the image has rows of zeros, not NaN


class Filterbank(NamedTuple):
    fx: Tensor  # (B, N, A): row i is filter i over the columns a = 1..A
    fy: Tensor  # (B, N, B): row j is filter j over the rows b = 1..B
    gamma: Tensor  # (B,) intensity


def filterbank(params: Tensor, width: int, height: int, n: int) -> Filterbank:
    """The filterbanks of eqs. 19-26 from params (B, 5) = (g~x, g~y, log sigma^2, log delta~, log gamma),
    for images `width` (A) x `height` (B) px and an n x n grid (n >= 2)."""
    gx_tilde, gy_tilde, log_var, log_delta, log_gamma = params.unbind(1)
    gx = (width + 1) / 2 * (gx_tilde + 1)  # eq. 22
    gy = (height + 1) / 2 * (gy_tilde + 1)  # eq. 23
    delta = (max(width, height) - 1) / (n - 1) * log_delta.exp()  # eq. 24
    offsets = torch.arange(1, n + 1, dtype=params.dtype, device=params.device) - n / 2 - 0.5
    var = log_var.exp().view(-1, 1, 1)

    def bank(centre: Tensor, side: int) -> Tensor:
        mu = centre.unsqueeze(1) + offsets * delta.unsqueeze(1)  # (B, N), eqs. 19, 20
        pixels = torch.arange(1, side + 1, dtype=params.dtype, device=params.device)  # 1-based
        weights = torch.exp(-((pixels - mu.unsqueeze(2)) ** 2) / (2 * var))  # (B, N, side), eqs. 25, 26
        return weights / (weights.sum(2, keepdim=True) + _EPS)

    return Filterbank(bank(gx, width), bank(gy, height), log_gamma.exp())


def glimpse(image: Tensor, bank: Filterbank) -> Tensor:
    """F_y x F_x^T per channel: image (B, C, B_px, A_px) -> (B, C, N, N), without gamma."""
    return bank.fy.unsqueeze(1) @ image @ bank.fx.transpose(1, 2).unsqueeze(1)


def read(x: Tensor, x_hat: Tensor, bank: Filterbank) -> Tensor:
    """Eq. 27: gamma [F_y x F_x^T, F_y x_hat F_x^T], flattened: (B, 2 C N N)."""
    patches = torch.cat([glimpse(x, bank).flatten(1), glimpse(x_hat, bank).flatten(1)], 1)
    return bank.gamma.unsqueeze(1) * patches


def write(patch: Tensor, bank: Filterbank) -> Tensor:
    """Eq. 29: (1 / gamma) F_y^T w F_x per channel: patch (B, C, N, N) -> canvas update (B, C, B_px, A_px)."""
    update = bank.fy.transpose(1, 2).unsqueeze(1) @ patch @ bank.fx.unsqueeze(1)
    return update / bank.gamma.view(-1, 1, 1, 1)
