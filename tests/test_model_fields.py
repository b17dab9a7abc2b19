"""The fields a one-class model lists in `parameters` are checked at construction: Python numbers,
lists and NumPy arrays become JAX arrays of the model's dtype, anything else is refused in one line
naming the field, and `check_model` names the rule that a field changed behind the constructor
breaks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trajax as tj
from trajax.testing import check_model


class VAR2(tj.AbstractModel):
    """z_{t+1} = A z_t + b + s w_t, w_t ~ N(0, I_2), z_1 = 0: θ = (A.ravel(), b, s), p = 7."""

    A: jax.Array
    b: jax.Array
    s: jax.Array
    parameters = ("A", "b", "s")

    def to_unconstrained(self, theta):
        return theta.at[-1].set(jnp.log(theta[-1]))

    def from_unconstrained(self, u):
        return u.at[-1].set(jnp.exp(u[-1]))

    def initial_state(self, key):
        return jnp.zeros(2, self.A.dtype)

    def transition(self, key, z, t):
        return self.A @ z + self.b + self.s * jax.random.normal(key, (2,), z.dtype)

    def transition_log_prob(self, z, z_next, t):
        r = (z_next - self.A @ z - self.b) / self.s
        return -0.5 * jnp.sum(r**2) - 2 * jnp.log(self.s) - jnp.log(2 * jnp.pi)


class NoisyAR1(tj.AbstractModel):
    """x_{t+1} = a x_t + √q w_t observed as y_t = x_t + √r v_t (x_1 = 0); the likelihood of y is
    the Kalman filter's, conditional on y_1. θ = (a, q, r)."""

    a: jax.Array
    q: jax.Array
    r: jax.Array
    parameters = ("a", "q", "r")

    def to_unconstrained(self, theta):
        return jnp.stack([theta[0], jnp.log(theta[1]), jnp.log(theta[2])])

    def from_unconstrained(self, u):
        return jnp.stack([u[0], jnp.exp(u[1]), jnp.exp(u[2])])

    def sample_trajectory(self, key, num_steps):
        k_x, k_y = jax.random.split(key)
        w = jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(k_x, t), dtype=self.a.dtype))(
            jnp.arange(1, num_steps)
        )
        _, rest = jax.lax.scan(
            lambda x, w_t: (self.a * x + jnp.sqrt(self.q) * w_t,) * 2, jnp.zeros_like(self.a), w
        )
        x = jnp.concatenate([jnp.zeros((1,), self.a.dtype), rest])
        v = jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(k_y, t), dtype=self.a.dtype))(
            jnp.arange(num_steps)
        )
        return x + jnp.sqrt(self.r) * v

    def trajectory_log_likelihood(self, y):
        def step(carry, y_t):  # predicted mean and variance of x_t given y_{1:t-1}
            m, P = carry
            S = P + self.r
            log_p = -0.5 * (jnp.log(2 * jnp.pi * S) + (y_t - m) ** 2 / S)
            m, P = m + P / S * (y_t - m), P * self.r / S
            return (self.a * m, self.a**2 * P + self.q), log_p

        _, log_p = jax.lax.scan(step, (jnp.zeros_like(self.a), jnp.zeros_like(self.a)), y)
        return jnp.sum(log_p[1:])


class ScaledAR1(tj.AbstractModel):
    """z_{t+1} = a z_t + s w_t, w_t ~ N(0, 1), z_1 = 0: θ = (a, s)."""

    a: jax.Array
    s: jax.Array
    parameters = ("a", "s")

    def to_unconstrained(self, theta):
        return theta.at[1].set(jnp.log(theta[1]))

    def from_unconstrained(self, u):
        return u.at[1].set(jnp.exp(u[1]))

    def initial_state(self, key):
        return jnp.zeros((), self.a.dtype)

    def transition(self, key, z, t):
        return self.a * z + self.s * jax.random.normal(key, dtype=z.dtype)

    def transition_log_prob(self, z, z_next, t):
        return -0.5 * ((z_next - self.a * z) / self.s) ** 2 - jnp.log(self.s) - 0.5 * jnp.log(2 * jnp.pi)


A2 = [[0.5, 0.1], [0.0, 0.4]]
B2 = [0.2, -0.1]


def _var2_from_jax():
    return VAR2(A=jnp.array(A2), b=jnp.array(B2), s=jnp.array(0.8))


# (fields as a user may give them, the dtype the model must have); tests run with x64 enabled
GIVEN = {
    "python": (dict(A=A2, b=B2, s=0.8), jnp.float64),
    "ints": (dict(A=[[1, 0], [0, 0]], b=[0, 1], s=1), jnp.float64),
    "numpy64": (dict(A=np.array(A2), b=np.array(B2), s=np.float64(0.8)), jnp.float64),
    "numpy32": (dict(A=np.array(A2, np.float32), b=np.array(B2, np.float32), s=np.float32(0.8)), jnp.float32),
    "numpy32_and_python": (dict(A=np.array(A2, np.float32), b=B2, s=0.8), jnp.float32),
    "jax32_and_numpy64": (dict(A=jnp.array(A2, jnp.float32), b=np.array(B2), s=1), jnp.float64),
    "tuple_and_0d": (dict(A=(tuple(A2[0]), tuple(A2[1])), b=tuple(B2), s=np.array(0.8)), jnp.float64),
}


@pytest.mark.parametrize("name", list(GIVEN))
def test_fields_become_jax_arrays_of_the_models_dtype(name):
    fields, dtype = GIVEN[name]
    model = VAR2(**fields)
    for field, shape in (("A", (2, 2)), ("b", (2,)), ("s", ())):
        value = getattr(model, field)
        assert isinstance(value, jax.Array) and value.dtype == dtype and value.shape == shape, (field, value)
        np.testing.assert_array_equal(value, np.asarray(fields[field], dtype))
    assert model.theta.dtype == dtype
    assert model.with_theta(model.theta).A.dtype == dtype


def test_jax_array_fields_of_the_models_dtype_are_kept_and_weak_types_made_strong():
    A, b, s = jnp.array(A2), jnp.array(B2), jnp.asarray(0.8, jnp.float64)
    model = VAR2(A=A, b=b, s=s)
    assert model.A is A and model.b is b and model.s is s
    weak = VAR2(A=A, b=b, s=jnp.asarray(0.8))  # a Python scalar's weak type: one program for both
    assert not weak.s.weak_type and float(weak.s) == 0.8


def test_the_issues_noisy_ar1_of_python_numbers_simulates_and_fits(key):
    """The issue's report: fit and check_model of NoisyAR1(a=0.7, q=1.0, r=0.5) raised
    AttributeError: 'float' object has no attribute 'dtype' inside with_theta."""
    model = NoisyAR1(a=0.7, q=1.0, r=0.5)
    reference = NoisyAR1(a=jnp.asarray(0.7), q=jnp.asarray(1.0), r=jnp.asarray(0.5))
    data = tj.simulate(model, key, 32, 40)
    np.testing.assert_array_equal(data, tj.simulate(reference, key, 32, 40))
    result = tj.fit(model, data)
    assert isinstance(result.model, NoisyAR1) and result.model.q.dtype == jnp.float64
    np.testing.assert_array_equal(result.theta, tj.fit(reference, data).theta)  # same program, same numbers


def test_check_model_passes_a_model_of_python_numbers(key):
    report = check_model(ScaledAR1(a=0.5, s=1), key, num_trajectories=4, num_steps=6, num_samples=200)
    assert report["score_z"] < 4.5  # check_model's own 4.5-SE z-test, here on 200 trajectories


@pytest.mark.parametrize("name", ["python", "numpy64"])
def test_a_matrix_model_of_numbers_or_numpy_fits_as_one_of_jax_arrays(name, key):
    model = VAR2(**GIVEN[name][0])
    data = tj.simulate(model, key, 32, 30)
    np.testing.assert_array_equal(data, tj.simulate(_var2_from_jax(), key, 32, 30))
    result = tj.fit(model, data)
    assert bool(result.converged)
    np.testing.assert_array_equal(result.theta, tj.fit(_var2_from_jax(), data).theta)


def test_a_float32_model_stays_float32(key):
    model = ScaledAR1(a=np.float32(0.5), s=1)
    assert model.a.dtype == model.s.dtype == jnp.float32
    data = tj.simulate(model, key, 32, 30)
    assert data.dtype == jnp.float32
    result = tj.fit(model, data)
    assert result.theta.dtype == result.model.a.dtype == result.model.s.dtype == jnp.float32


@pytest.mark.parametrize(
    ("field", "value", "got"),
    [
        ("s", "0.8", "got str '0.8'"),
        ("s", None, "got None"),
        ("s", 0.8 + 0.1j, "got complex (0.8+0.1j)"),
        ("s", True, "got bool True"),
        ("b", np.array([0.2, 0.1j]), "got a ndarray of complex128"),
        ("b", jnp.array([0.2, 0.1j]), "of complex128"),
        ("A", [[0.5, 0.1], [0.0]], "got a list that is not a rectangular array of numbers"),
        ("A", {"a": 1.0}, "got a dict that is not a rectangular array of numbers"),
    ],
)
def test_a_field_that_is_not_real_numbers_is_refused_in_one_line_naming_it(field, value, got):
    fields = dict(A=A2, b=B2, s=0.8) | {field: value}
    with pytest.raises(ValueError, match=f"^VAR2.{field}: a parameter field holds real numbers") as info:
        VAR2(**fields)
    assert got in str(info.value) and "\n" not in str(info.value)


def test_a_static_field_listed_as_a_parameter_is_refused():
    class StaticScale(VAR2):
        s: float = eqx.field(static=True)

    with pytest.raises(TypeError, match="StaticScale.s: `parameters` lists a static field"):
        StaticScale(A=A2, b=B2, s=0.8)


def test_construction_under_jit_and_vmap_and_rebuilds_by_jax():
    # tracers are kept (cast to the model's dtype when they are integers), never converted eagerly
    theta = jax.jit(lambda a: NoisyAR1(a=a, q=1.0, r=0.5).theta)(jnp.asarray(0.7))
    np.testing.assert_array_equal(theta, [0.7, 1.0, 0.5])
    theta = jax.jit(lambda q: NoisyAR1(a=0.7, q=q, r=0.5).theta)(jnp.asarray(2, jnp.int32))
    assert theta.dtype == jnp.float64 and float(theta[1]) == 2.0
    batch = jax.vmap(lambda a: NoisyAR1(a=a, q=np.float64(1.0), r=[0.5][0]))(jnp.array([0.1, 0.2]))
    assert batch.a.shape == (2,) and batch.q.dtype == jnp.float64
    # with_theta, tree_unflatten and tree_at skip __init__: traced leaves pass through untouched
    model = VAR2(A=A2, b=B2, s=0.8)
    thetas = jnp.stack([model.theta, 2 * model.theta])
    np.testing.assert_array_equal(jax.vmap(lambda t: model.with_theta(t).theta)(thetas), thetas)
    np.testing.assert_array_equal(
        jax.jit(lambda m: m.with_theta(m.theta + 1.0).theta)(model), model.theta + 1.0
    )


def test_check_model_names_the_rule_a_field_changed_behind_the_constructor_breaks(key):
    model = NoisyAR1(a=0.7, q=1.0, r=0.5)
    with pytest.raises(
        AssertionError, match=r"^check_model: parameters: NoisyAR1.q is a float, not a floating JAX"
    ):
        check_model(eqx.tree_at(lambda m: m.q, model, 1.0), key)
    with pytest.raises(AssertionError, match=r"^check_model: parameters: NoisyAR1.r is a ndarray of float64"):
        check_model(eqx.tree_at(lambda m: m.r, model, np.array(0.5)), key)
    mixed = eqx.tree_at(lambda m: m.a, model, jnp.asarray(0.7, jnp.float32))
    with pytest.raises(
        AssertionError, match=r"parameters: the fields in `parameters` differ in dtype \(a: float32"
    ):
        check_model(mixed, key)


class BrokenSampler(NoisyAR1):
    def sample_trajectory(self, key, num_steps):
        return np.asarray(super().sample_trajectory(key, num_steps))  # NumPy on a traced array


def test_check_model_names_the_rule_when_the_models_code_raises(key):
    with pytest.raises(
        AssertionError, match=r"^check_model: sampler: simulate raised TracerArrayConversionError"
    ):
        check_model(BrokenSampler(a=0.7, q=1.0, r=0.5), key)
