"""Noise families: `Gaussian`, `StudentT`, `SmoothedLaplace`, `BangBang` (docs/theory.md §4)."""

from ._noise import AbstractNoise as AbstractNoise
from ._noise import BangBang as BangBang
from ._noise import Gaussian as Gaussian
from ._noise import SmoothedLaplace as SmoothedLaplace
from ._noise import StudentT as StudentT
