"""The ConvLSTM encoder-forecaster of Shi, Chen, Wang, Yeung, Wong, Woo 2015 ("Convolutional LSTM Network:
A Machine Learning Approach for Precipitation Nowcasting"), which continues a sequence of frames.

A ConvLSTM cell is an LSTM whose input-to-state and state-to-state transitions are convolutions, so its
state keeps the frame's layout (eq. 3; * a convolution, o the Hadamard product, W_c. peepholes):
    i_t = sigmoid(W_xi * X_t + W_hi * H_{t-1} + W_ci o C_{t-1} + b_i)
    f_t = sigmoid(W_xf * X_t + W_hf * H_{t-1} + W_cf o C_{t-1} + b_f)
    C_t = f_t o C_{t-1} + i_t o tanh(W_xc * X_t + W_hc * H_{t-1} + b_c)
    o_t = sigmoid(W_xo * X_t + W_ho * H_{t-1} + W_co o C_t + b_o)
    H_t = o_t o tanh(C_t)
As in the paper, a frame enters as non-overlapping patches (its Moving MNIST model: 64 x 64 frames as
16 x 16 cells of 4 x 4 px, 16 channels): every frame size is a GRID x GRID state here, so the cost hardly
depends on the frame size. The encoder's stack reads the known frames; the forecaster's stack starts from
the encoder's last states (copied layer by layer) and runs on with no input; each predicted frame is a
1 x 1 convolution of the concatenated hidden states of all the forecaster's layers (Fig. 3), giving
per-pixel logits: the frames are modelled as Bernoulli means, trained with cross-entropy as in the paper.

Shapes: frames (B, T, C, S, S) in [0, 1]; cells (B, C * P * P, GRID, GRID), P = S / GRID; states (B, hidden,
GRID, GRID).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.sequence.settings import FORECAST_GRID, ForecastConfig

State = tuple[Tensor, Tensor]  # a cell's (H, C)
FORGET_BIAS = 1.0  # a new LSTM keeps its memory until it learns not to (Gers, Schmidhuber, Cummins 2000)


class ConvLstmCell(nn.Module):
    def __init__(self, inputs: int, hidden: int, kernel: int, grid: int = FORECAST_GRID) -> None:
        super().__init__()
        self.hidden = hidden
        # One convolution of [X_t, H_{t-1}] gives all four gates' pre-activations (i, f, c, o).
        self.gates = nn.Conv2d(inputs + hidden, 4 * hidden, kernel, padding=kernel // 2)
        self.peepholes = nn.Parameter(torch.zeros(3, hidden, grid, grid))  # W_ci, W_cf, W_co
        bias = self.gates.bias
        assert bias is not None
        with torch.no_grad():
            bias[hidden : 2 * hidden].fill_(FORGET_BIAS)

    def forward(self, x: Tensor | None, state: State) -> State:
        """One step; `x` None for a cell built with no input (the forecaster's first layer)."""
        h, c = state
        i, f, g, o = self.gates(h if x is None else torch.cat([x, h], 1)).chunk(4, 1)
        w_ci, w_cf, w_co = self.peepholes
        c = torch.sigmoid(f + w_cf * c) * c + torch.sigmoid(i + w_ci * c) * torch.tanh(g)
        h = torch.sigmoid(o + w_co * c) * torch.tanh(c)
        return h, c


class Forecaster(nn.Module):
    def __init__(self, config: ForecastConfig) -> None:
        super().__init__()
        self.config = config
        cell_channels = config.channels * config.patch**2
        sizes = config.hidden
        self.encoder = nn.ModuleList(
            ConvLstmCell(n_in, n_out, config.kernel)
            for n_in, n_out in zip((cell_channels, *sizes[:-1]), sizes, strict=True)
        )
        # The forecaster's first layer has no input (its input weights would only ever meet zeros).
        self.forecaster = nn.ModuleList(
            ConvLstmCell(n_in, n_out, config.kernel)
            for n_in, n_out in zip((0, *sizes[:-1]), sizes, strict=True)
        )
        self.output = nn.Conv2d(sum(sizes), cell_channels, 1)

    def encode(self, frames: Tensor) -> list[State]:
        """The encoder's states after reading `frames` (B, T, C, S, S)."""
        states = [self._zero_state(len(frames), hidden, frames) for hidden in self.config.hidden]
        for t in range(frames.shape[1]):
            x: Tensor = F.pixel_unshuffle(frames[:, t], self.config.patch)
            for k, cell in enumerate(self.encoder):
                states[k] = cell(x, states[k])
                x = states[k][0]
        return states

    def forecast(self, states: list[State], count: int) -> Tensor:
        """Logits of the next `count` frames (B, count, C, S, S), the forecaster starting from `states`."""
        states = list(states)
        logits = []
        for _ in range(count):
            x: Tensor | None = None
            for k, cell in enumerate(self.forecaster):
                states[k] = cell(x, states[k])
                x = states[k][0]
            hidden = torch.cat([h for h, _ in states], 1)
            logits.append(F.pixel_shuffle(self.output(hidden), self.config.patch))
        return torch.stack(logits, 1)

    def forward(self, frames: Tensor, count: int) -> Tensor:
        """Logits of the `count` frames that follow `frames` (B, T, C, S, S) in [0, 1]."""
        return self.forecast(self.encode(frames), count)

    def predict(self, frames: Tensor, count: int) -> Tensor:
        """The next `count` frames (B, count, C, S, S) in [0, 1]: the Bernoulli means."""
        return torch.sigmoid(self(frames, count))

    @staticmethod
    def _zero_state(batch: int, hidden: int, like: Tensor) -> State:
        zeros = like.new_zeros(batch, hidden, FORECAST_GRID, FORECAST_GRID)
        return zeros, zeros
