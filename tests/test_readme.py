"""The README quick-start runs as printed."""

import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "rates.png").stat().st_size > 10_000
    assert namespace["result"].converged
    # the README's one-class model gets simulate and fit without further code
    import jax

    tj, AR1 = namespace["tj"], namespace["AR1"]
    model = AR1(a=jax.numpy.asarray(0.5), scale=1.0)
    data = tj.simulate(model, jax.random.key(0), 200, 50)
    fitted = tj.fit(AR1(a=jax.numpy.asarray(0.0), scale=1.0), data)
    # m·I_T·Δ² ≈ χ²_1 with I_T ≈ (T−2)/(1−a²): exceeds 16 with probability < 1e-4
    assert bool(fitted.converged) and 200 * 48 / 0.75 * float(fitted.theta[0] - 0.5) ** 2 < 16
