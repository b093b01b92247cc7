"""DRAW, the Deep Recurrent Attentive Writer (Gregor, Danihelka, Graves, Rezende, Wierstra 2015, "DRAW: A
Recurrent Neural Network For Image Generation"): a variational autoencoder whose encoder and decoder are
LSTMs that build a picture on a canvas over T glimpses.

Per glimpse t = 1..T (eqs. 3-8), with c_0, h_enc_0, h_dec_0 zero:
    x_hat = x - mean(c_{t-1})                       the error image: what is left to draw
    r_t = read(x, x_hat, h_dec_{t-1})               core.sequence.attention (eq. 27), or [x, x_hat] whole
    h_enc_t = LSTM_enc(h_enc_{t-1}, [r_t, h_dec_{t-1}])
    z_t ~ q(z_t | h_enc_t) = N(mu_t, sigma_t)      reparameterised: z_t = mu_t + sigma_t * eps_t
    h_dec_t = LSTM_dec(h_dec_{t-1}, z_t)
    c_t = c_{t-1} + write(h_dec_t)                  eq. 29, or a linear layer to the whole canvas
mean(c) is sigmoid(c) for the Bernoulli likelihood of grey pictures (the canvas holds logits) and c itself
for the Gaussian of colour ones (the canvas holds means), the likelihoods of core.vae.networks. The loss,
in nats per picture (eqs. 9-12), is -log p(x | c_T) + sum_t KL(q(z_t | x) || N(0, I)).
Generation runs the decoder alone on z_t ~ N(0, I) (eqs. 13-15); the canvases c_1..c_T are the drawing.

Shapes: x (B, C, S, S) in [0, 1]; states (B, hidden); z_t (B, latent); noise for all glimpses (T, B, latent).
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from core.sequence import attention
from core.sequence.settings import DrawConfig
from core.vae.networks import kl_per_dimension, likelihood_nll

State = tuple[Tensor, Tensor]  # an LSTMCell's (h, c)


def full_precision(like: Tensor) -> torch.autocast:
    """fp32 inside, also under bf16 autocast (core.devices.autocast, which runs the LSTMs in bf16 where
    the hardware has it): the attention's filterbanks and patches, as bf16's 8-bit mantissa would put a
    filter centre on a 64 px picture a quarter pixel off."""
    return torch.autocast(like.device.type, enabled=False)


class DrawPass(NamedTuple):
    canvases: list[Tensor]  # T canvases c_1..c_T (B, C, S, S): logits or means
    mu: Tensor  # (T, B, latent)
    log_var: Tensor  # (T, B, latent)


class Draw(nn.Module):
    def __init__(self, config: DrawConfig) -> None:
        super().__init__()
        self.config = config
        c, s, hidden = config.channels, config.size, config.hidden
        read_size = 2 * c * (config.read_n**2 if config.attention else s * s)
        self.encoder = nn.LSTMCell(read_size + hidden, hidden)
        self.posterior = nn.Linear(hidden, 2 * config.latent)  # (mu, log sigma^2) of q(z_t | h_enc_t)
        self.decoder = nn.LSTMCell(config.latent, hidden)
        if config.attention:
            self.read_attention = nn.Linear(hidden, attention.ATTENTION_PARAMETERS)  # eq. 21
            self.write_attention = nn.Linear(hidden, attention.ATTENTION_PARAMETERS)
            self.write_patch = nn.Linear(hidden, c * config.write_n**2)  # w_t = W(h_dec_t), eq. 28
        else:
            self.write_patch = nn.Linear(hidden, c * s * s)
        # log sigma of the Gaussian likelihood, one per channel (unused for Bernoulli data)
        self.log_sigma = nn.Parameter(torch.full((c,), -2.0))

    def canvas_mean(self, canvas: Tensor) -> Tensor:
        """The picture a canvas stands for, unclipped: sigmoid of Bernoulli logits, Gaussian means as is."""
        return torch.sigmoid(canvas) if self.config.likelihood == "bernoulli" else canvas

    def mean_image(self, canvas: Tensor) -> Tensor:
        """A canvas (B, C, S, S) as a picture in [0, 1]."""
        return self.canvas_mean(canvas).clamp(0.0, 1.0)

    def _zero_state(self, like: Tensor) -> State:
        zeros = like.new_zeros(len(like), self.config.hidden)
        return zeros, zeros

    def _read(self, x: Tensor, x_hat: Tensor, h_dec: Tensor) -> Tensor:
        if not self.config.attention:
            return torch.cat([x.flatten(1), x_hat.flatten(1)], 1)
        s = self.config.size
        with full_precision(x):
            bank = attention.filterbank(self.read_attention(h_dec.float()), s, s, self.config.read_n)
            return attention.read(x, x_hat, bank)

    def _write(self, h_dec: Tensor) -> Tensor:
        """The canvas update (B, C, S, S), in fp32."""
        c, s, n = self.config.channels, self.config.size, self.config.write_n
        if not self.config.attention:
            update: Tensor = self.write_patch(h_dec).float()
            return update.view(-1, c, s, s)
        with full_precision(h_dec):
            bank = attention.filterbank(self.write_attention(h_dec.float()), s, s, n)
            return attention.write(self.write_patch(h_dec.float()).view(-1, c, n, n), bank)

    def draw(self, x: Tensor, eps: Tensor | None) -> DrawPass:
        """Encode and redraw x (B, C, S, S) in [0, 1] with noise eps (T, B, latent), or with the posterior
        means when eps is None (a deterministic reconstruction)."""
        canvas = torch.zeros_like(x)
        h_dec = self._zero_state(x)
        enc = self._zero_state(x)
        canvases, mus, log_vars = [], [], []
        for t in range(self.config.glimpses):
            x_hat = x - self.canvas_mean(canvas)
            r = self._read(x, x_hat, h_dec[0])
            enc = self.encoder(torch.cat([r, h_dec[0]], 1), enc)
            mu, log_var = self.posterior(enc[0]).float().chunk(2, dim=1)  # sampling and the KL in fp32
            log_var = log_var.clamp(-30.0, 20.0)  # exp stays finite in float32
            z = mu if eps is None else mu + torch.exp(0.5 * log_var) * eps[t]
            h_dec = self.decoder(z, h_dec)
            canvas = canvas + self._write(h_dec[0])
            canvases.append(canvas)
            mus.append(mu)
            log_vars.append(log_var)
        return DrawPass(canvases, torch.stack(mus), torch.stack(log_vars))

    def generate(self, z: Tensor) -> list[Tensor]:
        """The canvases c_1..c_T (B, C, S, S) the decoder draws from z (T, B, latent), eqs. 13-15."""
        c, s = self.config.channels, self.config.size
        canvas = z.new_zeros(z.shape[1], c, s, s)
        h_dec = self._zero_state(z[0])
        canvases = []
        for z_t in z:
            h_dec = self.decoder(z_t, h_dec)
            canvas = canvas + self._write(h_dec[0])
            canvases.append(canvas)
        return canvases

    def reconstruction_nll(self, canvas: Tensor, x: Tensor) -> Tensor:
        """-log p(x | c_T) per picture (B,), in nats."""
        return likelihood_nll(canvas, x, self.config.likelihood, self.log_sigma)


class DrawElbo(NamedTuple):
    """Per-picture means, in nats: the negative ELBO, its two terms and the KL of each glimpse (T,)."""

    nelbo: Tensor
    reconstruction: Tensor
    kl: Tensor
    kl_per_glimpse: Tensor


def draw_elbo(model: Draw, x: Tensor, generator: torch.Generator | None = None) -> DrawElbo:
    """One-sample estimate of the negative ELBO of x (B, C, S, S) in [0, 1], averaged over the batch."""
    config = model.config
    eps = torch.randn(
        (config.glimpses, len(x), config.latent), generator=generator, device=x.device, dtype=x.dtype
    )
    drawn = model.draw(x, eps)
    reconstruction = model.reconstruction_nll(drawn.canvases[-1], x).mean()
    kl_per_glimpse = kl_per_dimension(drawn.mu, drawn.log_var).sum(2).mean(1)  # (T, B, latent) -> (T,)
    kl = kl_per_glimpse.sum()
    return DrawElbo(reconstruction + kl, reconstruction, kl, kl_per_glimpse)
