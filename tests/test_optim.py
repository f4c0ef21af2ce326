"""SGD and Adam: each update checked against its formula written out step by step in float64,
sparse-row gradients against their dense equivalent, the fast lazy Adam against the package's
plain lazy_adam_step_plain, and PyTorch's optimizers when installed."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimal_embed import SGD, Adam, SparseRows
from minimal_embed.optim import lazy_adam_step_plain

ROWS, COLS = 7, 3


def random_sparse_grads(seed, steps, rows=ROWS, cols=COLS):
    """`steps` SparseRows gradients over random subsets of the rows (some steps touch none)."""
    rng = np.random.default_rng(seed)
    grads = []
    for _ in range(steps):
        present = np.flatnonzero(rng.random(rows) < 0.4)
        grads.append(SparseRows(present, rng.standard_normal((present.size, cols))))
    return grads


# --- SGD ------------------------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**32 - 1),
    momentum=st.sampled_from([0.0, 0.9]),
    weight_decay=st.sampled_from([0.0, 0.01]),
)
def test_sgd_with_sparse_rows_equals_sgd_with_the_dense_gradient_exactly(
    seed, momentum, weight_decay
):
    start = np.random.default_rng(seed).standard_normal((ROWS, COLS))
    sparse_param, dense_param = start.copy(), start.copy()
    sparse_opt = SGD([sparse_param], lr=0.1, momentum=momentum, weight_decay=weight_decay)
    dense_opt = SGD([dense_param], lr=0.1, momentum=momentum, weight_decay=weight_decay)
    for grad in random_sparse_grads(seed, steps=4):
        sparse_opt.step([grad])
        dense_opt.step([grad.to_dense(ROWS)])
    np.testing.assert_array_equal(sparse_param, dense_param)


def test_sgd_equals_the_formula_written_out():
    lr, momentum, weight_decay = 0.05, 0.8, 0.1
    rng = np.random.default_rng(0)
    param = rng.standard_normal((4, 2))
    grads = [rng.standard_normal((4, 2)) for _ in range(3)]
    opt = SGD([param], lr, momentum=momentum, weight_decay=weight_decay)

    p, buffer = param.copy(), np.zeros((4, 2))
    for g in grads:
        opt.step([g])
        g = g + weight_decay * p
        buffer = momentum * buffer + g
        p = p - lr * buffer
        np.testing.assert_allclose(param, p, rtol=1e-14, atol=1e-15)


def test_sgd_with_sparse_rows_writes_only_the_listed_rows():
    param = np.arange(12.0).reshape(4, 3)
    before = param.copy()
    SGD([param], lr=1.0).step([SparseRows(np.array([1, 3]), np.ones((2, 3)))])
    np.testing.assert_array_equal(param[[0, 2]], before[[0, 2]])
    np.testing.assert_array_equal(param[[1, 3]], before[[1, 3]] - 1.0)


# --- Adam -----------------------------------------------------------------------------------


def adam_formula(p, m, v, g, t, lr, beta1, beta2, eps, weight_decay, decoupled):
    """One step of PyTorch's Adam/AdamW, written out with fresh float64 arrays."""
    if weight_decay and decoupled:
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p, m, v


@pytest.mark.parametrize(
    "weight_decay, decoupled", [(0.0, False), (0.1, False), (0.1, True)]
)
def test_adam_equals_the_formula_written_out_for_several_steps(weight_decay, decoupled):
    lr, betas, eps = 0.01, (0.8, 0.99), 1e-6
    rng = np.random.default_rng(1)
    param = rng.standard_normal((5, 4))
    opt = Adam([param], lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=decoupled)

    p, m, v = param.copy(), np.zeros((5, 4)), np.zeros((5, 4))
    for t in range(1, 6):
        g = rng.standard_normal((5, 4))
        opt.step([g])
        p, m, v = adam_formula(p, m, v, g, t, lr, *betas, eps, weight_decay, decoupled)
        np.testing.assert_allclose(param, p, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(opt.exp_avg[0], m, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(opt.exp_avg_sq[0], v, rtol=1e-13, atol=1e-15)


@given(seed=st.integers(0, 2**32 - 1), decoupled=st.booleans())
def test_lazy_adam_leaves_absent_rows_untouched_and_applies_the_formula_to_present_rows(
    seed, decoupled
):
    lr, betas, eps, weight_decay = 0.01, (0.9, 0.999), 1e-8, 0.05
    param = np.random.default_rng(seed).standard_normal((ROWS, COLS))
    opt = Adam([param], lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=decoupled)

    p, m, v = param.copy(), np.zeros((ROWS, COLS)), np.zeros((ROWS, COLS))
    for t, grad in enumerate(random_sparse_grads(seed, steps=5), start=1):
        before = param.copy(), opt.exp_avg[0].copy(), opt.exp_avg_sq[0].copy()
        opt.step([grad])
        absent = np.setdiff1d(np.arange(ROWS), grad.indices)
        for now, then in zip((param, opt.exp_avg[0], opt.exp_avg_sq[0]), before, strict=True):
            np.testing.assert_array_equal(now[absent], then[absent])
        # the present rows follow the dense rule with the optimizer's step count t
        rows = grad.indices
        p[rows], m[rows], v[rows] = adam_formula(
            p[rows], m[rows], v[rows], grad.values, t, lr, *betas, eps, weight_decay, decoupled
        )
        np.testing.assert_allclose(param, p, rtol=1e-13, atol=1e-15)
    assert opt.step_count == 5


def test_adam_on_tables_larger_than_its_blocks_equals_the_formula():
    # 1600-byte rows: the dense step works through 163-row blocks, the lazy one through 61-row
    # blocks (its last one short), so both paths cross block edges
    rng = np.random.default_rng(7)
    param = rng.standard_normal((400, 200))
    opt = Adam([param], lr=0.01)
    p, m, v = param.copy(), np.zeros((400, 200)), np.zeros((400, 200))
    for t in range(1, 4):
        g = rng.standard_normal((400, 200))
        rows = np.flatnonzero(rng.random(400) < 0.8)  # ~320 rows: six blocks of the lazy path
        grad = g if t == 1 else SparseRows(rows, g[rows])
        opt.step([grad])
        used = slice(None) if t == 1 else rows
        p[used], m[used], v[used] = adam_formula(
            p[used], m[used], v[used], g[used], t, 0.01, 0.9, 0.999, 1e-8, 0.0, False
        )
        np.testing.assert_allclose(param, p, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("decoupled", [False, True])
def test_lazy_adam_in_float32_on_wide_rows_over_many_blocks_follows_the_formula(decoupled):
    # GPT-2's row width: the lazy step goes through ~100 rows in blocks of a few dozen, its
    # last block short, gathering into float32 buffers that every block reuses
    rows_total, width = 300, 768
    rng = np.random.default_rng(8)
    param = rng.standard_normal((rows_total, width)).astype(np.float32)
    opt = Adam([param], lr=0.01, weight_decay=0.1, decoupled=decoupled)
    p, m, v = param.astype(np.float64), np.zeros(param.shape), np.zeros(param.shape)
    for t in range(1, 4):
        rows = np.flatnonzero(rng.random(rows_total) < 0.35)
        values = rng.standard_normal((rows.size, width)).astype(np.float32)
        opt.step([SparseRows(rows, values)])
        p[rows], m[rows], v[rows] = adam_formula(
            p[rows], m[rows], v[rows], values.astype(np.float64), t, 0.01, 0.9, 0.999, 1e-8,
            0.1, decoupled,
        )
        assert param.dtype == np.float32
        np.testing.assert_allclose(param, p, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(opt.exp_avg[0], m, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(opt.exp_avg_sq[0], v, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("shape", [(9,), (9, 2, 3)])
def test_lazy_adam_updates_the_listed_rows_of_a_parameter_of_any_rank(shape):
    rng = np.random.default_rng(9)
    param = rng.standard_normal(shape)
    opt = Adam([param], lr=0.05)
    p, m, v = param.copy(), np.zeros(shape), np.zeros(shape)
    for t in range(1, 4):
        rows = np.sort(rng.choice(shape[0], size=4, replace=False))
        values = rng.standard_normal((4, *shape[1:]))
        opt.step([SparseRows(rows, values)])
        p[rows], m[rows], v[rows] = adam_formula(
            p[rows], m[rows], v[rows], values, t, 0.05, 0.9, 0.999, 1e-8, 0.0, False
        )
        np.testing.assert_allclose(param, p, rtol=1e-13, atol=1e-15)


def plain_settings(opt):
    """The keyword arguments of lazy_adam_step_plain for the settings of an Adam optimizer."""
    return {"lr": opt.lr, "betas": opt.betas, "eps": opt.eps, "weight_decay": opt.weight_decay,
            "decoupled": opt.decoupled}


@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from([(7, 3), (1, 5), (300, 200), (9,), (40, 2, 3)]),
    dtype=st.sampled_from([np.float32, np.float64]),
    weight_decay=st.sampled_from([0.0, 0.05]),
    decoupled=st.booleans(),
)
def test_lazy_adam_step_equals_lazy_adam_step_plain_bit_for_bit_over_several_steps(
    seed, shape, dtype, weight_decay, decoupled
):
    # (300, 200): the fast step crosses several blocks, its last one short; the gradient has
    # the parameter's dtype, as Embedding.backward gives it
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(shape).astype(dtype)
    opt = Adam([param], lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay,
               decoupled=decoupled)
    p, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
    for t in range(1, 5):
        rows = np.flatnonzero(rng.random(shape[0]) < 0.5)  # some steps may touch no row
        grad = SparseRows(rows, rng.standard_normal((rows.size, *shape[1:])).astype(dtype))
        opt.step([grad])
        lazy_adam_step_plain(p, m, v, grad, **plain_settings(opt), step=t)
        np.testing.assert_array_equal(param, p)
        np.testing.assert_array_equal(opt.exp_avg[0], m)
        np.testing.assert_array_equal(opt.exp_avg_sq[0], v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.1, False), (0.1, True)])
def test_dense_adam_is_the_plain_rule_on_every_row_bit_for_bit(dtype, weight_decay, decoupled):
    rng = np.random.default_rng(12)
    param = rng.standard_normal((500, 100)).astype(dtype)  # several blocks of the dense step
    opt = Adam([param], lr=0.02, weight_decay=weight_decay, decoupled=decoupled)
    p, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
    every_row = np.arange(500)
    for t in range(1, 4):
        g = rng.standard_normal(param.shape).astype(dtype)
        opt.step([g])
        lazy_adam_step_plain(p, m, v, SparseRows(every_row, g), **plain_settings(opt), step=t)
        np.testing.assert_array_equal(param, p)


def test_lazy_adam_step_plain_refuses_a_bad_step_or_gradient():
    w, m, v = np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2))
    grad = SparseRows(np.array([0, 2]), np.ones((2, 2)))
    settings = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                "decoupled": False}
    with pytest.raises(ValueError, match="step"):
        lazy_adam_step_plain(w, m, v, grad, **settings, step=0)
    with pytest.raises(TypeError, match="step"):
        lazy_adam_step_plain(w, m, v, grad, **settings, step=1.0)
    with pytest.raises(ValueError, match="sorted and unique"):
        lazy_adam_step_plain(w, m, v, SparseRows(np.array([2, 0]), np.ones((2, 2))),
                             **settings, step=1)
    with pytest.raises(ValueError, match="betas"):
        lazy_adam_step_plain(w, m, v, grad, **{**settings, "betas": (0.9, 1.5)}, step=1)
    assert not w.any()


def test_a_step_leaves_the_callers_gradients_unchanged():
    rng = np.random.default_rng(10)
    param = rng.standard_normal((6, 3))
    sparse = SparseRows(np.array([1, 4]), rng.standard_normal((2, 3)))
    dense = rng.standard_normal((6, 3))
    sparse_before, dense_before = sparse.values.copy(), dense.copy()
    opt = Adam([param], weight_decay=0.1)
    opt.step([sparse])
    opt.step([dense])
    np.testing.assert_array_equal(sparse.values, sparse_before)
    np.testing.assert_array_equal(dense, dense_before)


def test_lazy_adam_on_every_row_is_dense_adam_bit_for_bit():
    rng = np.random.default_rng(2)
    start = rng.standard_normal((ROWS, COLS))
    lazy_param, dense_param = start.copy(), start.copy()
    lazy, dense = Adam([lazy_param], 0.1), Adam([dense_param], 0.1)
    for _ in range(3):
        grad = rng.standard_normal((ROWS, COLS))
        lazy.step([SparseRows(np.arange(ROWS), grad)])
        dense.step([grad])
    np.testing.assert_array_equal(lazy_param, dense_param)


def test_a_row_first_seen_late_gets_that_steps_bias_correction():
    param = np.zeros((2, 1))
    opt = Adam([param], lr=0.1, betas=(0.9, 0.999), eps=0.0)
    for _ in range(9):
        opt.step([SparseRows(np.array([0]), np.array([[1.0]]))])
    opt.step([SparseRows(np.array([1]), np.array([[1.0]]))])  # step t = 10, row 1's first
    m, v = 0.1, 0.001  # one update from zero moments
    expected = -0.1 * (m / (1 - 0.9**10)) / math.sqrt(v / (1 - 0.999**10))
    assert param[1, 0] == pytest.approx(expected, rel=1e-12)


def test_float32_parameters_stay_float32():
    param = np.ones((3, 2), dtype=np.float32)
    Adam([param]).step([np.ones((3, 2), dtype=np.float32)])
    SGD([param], lr=0.1).step([SparseRows(np.array([0]), np.ones((1, 2), np.float32))])
    assert param.dtype == np.float32
    assert param[0, 0] == np.float32(np.float32(1.0 - 1e-3) - np.float32(0.1))


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1), lambda p: Adam(p)])
def test_gradients_that_do_not_fit_their_parameter_are_refused(make):
    opt = make([np.zeros((4, 2))])
    cases = [
        ([], ValueError, "one gradient per parameter"),
        ([np.zeros((4, 3))], ValueError, r"shape \(4, 2\)"),
        ([SparseRows(np.array([2, 1]), np.zeros((2, 2)))], ValueError, "sorted and unique"),
        ([SparseRows(np.array([1, 1]), np.zeros((2, 2)))], ValueError, "sorted and unique"),
        ([SparseRows(np.array([1, 4]), np.zeros((2, 2)))], ValueError, r"0\.\.3"),
        ([SparseRows(np.array([-1, 0]), np.zeros((2, 2)))], ValueError, r"0\.\.3"),
        ([SparseRows(np.array([0, 1]), np.zeros((2, 3)))], ValueError, "values has shape"),
        ([SparseRows(np.array([0.0]), np.zeros((1, 2)))], TypeError, "integer"),
    ]
    for grads, error, message in cases:
        with pytest.raises(error, match=message):
            opt.step(grads)


INTEGER_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


@st.composite
def indices_of_a_dtype(draw):
    """A 1-D index array of some integer dtype: often valid rows, often near the dtype's limits."""
    dtype = draw(st.sampled_from(INTEGER_DTYPES))
    info = np.iinfo(dtype)
    anywhere = st.integers(int(info.min), int(info.max))
    near_rows = st.integers(max(int(info.min), -2), ROWS + 1)
    listed = st.lists(st.one_of(near_rows, anywhere), max_size=6)
    valid = st.sets(st.integers(0, ROWS - 1), max_size=ROWS).map(sorted)
    return np.array(draw(st.one_of(listed, valid)), dtype=dtype)


@pytest.mark.parametrize(
    "make", [lambda p: SGD(p, lr=1.0), lambda p: SGD(p, lr=1.0, momentum=0.5), lambda p: Adam(p)]
)
@given(indices=indices_of_a_dtype())
def test_sparse_rows_of_any_integer_dtype_are_refused_unless_sorted_unique_rows(make, indices):
    values = np.arange(indices.size * COLS, dtype=np.float64).reshape(indices.size, COLS)
    as_ints = indices.tolist()  # Python ints: no wrap-around
    valid = as_ints == sorted(set(as_ints)) and all(0 <= i < ROWS for i in as_ints)
    param, reference = np.ones((ROWS, COLS)), np.ones((ROWS, COLS))
    opt, reference_opt = make([param]), make([reference])
    if not valid:
        with pytest.raises(ValueError, match=r"sorted and unique|0\.\.6"):
            opt.step([SparseRows(indices, values)])
        np.testing.assert_array_equal(param, 1.0)
        return
    opt.step([SparseRows(indices, values)])
    reference_opt.step([SparseRows(np.array(as_ints, dtype=np.int64), values)])
    np.testing.assert_array_equal(param, reference)


def test_unsigned_indices_that_wrap_around_in_np_diff_are_refused():
    w = np.zeros((4, 2))
    with pytest.raises(ValueError, match="sorted and unique"):
        SGD([w], lr=1).step([SparseRows(np.array([1, 3, 1], np.uint8), np.ones((3, 2)))])
    assert not w.any()


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=1.0), lambda p: Adam(p)])
@pytest.mark.parametrize("dtype", ["m8[s]", np.float64, bool])
def test_sparse_rows_indices_that_are_not_plain_integers_are_a_type_error(make, dtype):
    # np.issubdtype counts timedelta64 as an integer; the check must not
    w = np.zeros((4, 2))
    with pytest.raises(TypeError, match="indices must be a 1-D integer array"):
        make([w]).step([SparseRows(np.array([1, 2]).astype(dtype), np.ones((2, 2)))])
    assert not w.any()


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1), lambda p: Adam(p)])
def test_a_parameter_given_twice_or_overlapping_another_is_refused_naming_both(make):
    w, other = np.zeros((4, 2)), np.zeros(3)
    with pytest.raises(ValueError, match=r"params\[0\] and params\[2\] are the same array"):
        make([w, other, w])
    with pytest.raises(ValueError, match=r"params\[0\] and params\[1\]"):
        make([w, w[1:]])
    make([w[:2], w[2:], other])  # views of one table that do not overlap are fine


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1), lambda p: Adam(p)])
def test_no_parameters_or_a_bare_array_is_refused(make):
    with pytest.raises(ValueError, match="params is empty"):
        make([])
    with pytest.raises(TypeError, match="list of arrays"):
        make(np.zeros((4, 2)))


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda p: SGD(p, lr="0.1"), TypeError),
        (lambda p: SGD(p, lr=True), TypeError),
        (lambda p: SGD(p, lr=None), TypeError),
        (lambda p: SGD(p, lr=-0.1), ValueError),
        (lambda p: SGD(p, lr=float("nan")), ValueError),
        (lambda p: SGD(p, lr=0.1, momentum="0.9"), TypeError),
        (lambda p: SGD(p, lr=0.1, momentum=-0.9), ValueError),
        (lambda p: SGD(p, lr=0.1, weight_decay=float("inf")), ValueError),
        (lambda p: Adam(p, lr=[0.1]), TypeError),
        (lambda p: Adam(p, lr=-1e-3), ValueError),
        (lambda p: Adam(p, betas=(0.9, "0.999")), TypeError),
        (lambda p: Adam(p, betas=(-0.1, 0.999)), ValueError),
        (lambda p: Adam(p, betas=(0.9, 1.0)), ValueError),
        (lambda p: Adam(p, eps=-1e-8), ValueError),
        (lambda p: Adam(p, weight_decay=None), TypeError),
    ],
)
def test_settings_raise_type_error_for_a_wrong_type_and_value_error_for_a_wrong_value(
    make, error
):
    with pytest.raises(error):
        make([np.zeros(3)])


def test_numpy_scalar_settings_are_accepted_and_keep_float32_tables_float32():
    param = np.ones((3, 2), dtype=np.float32)
    sgd = SGD([param], lr=np.float32(0.1), momentum=np.float64(0.5), weight_decay=np.int64(0))
    adam = Adam([param.copy()], lr=np.float32(0.1), betas=(np.float32(0.9), np.float64(0.99)),
                eps=np.float64(1e-8), weight_decay=np.float32(0.01))
    assert all(type(x) is float for x in (sgd.lr, sgd.momentum, adam.lr, *adam.betas, adam.eps))
    sgd.step([np.ones((3, 2), dtype=np.float32)])
    adam.step([SparseRows(np.array([1]), np.ones((1, 2), np.float32))])
    assert param.dtype == adam.params[0].dtype == np.float32


def test_bad_optimizer_settings_are_refused():
    with pytest.raises(TypeError, match="floating NumPy array"):
        SGD([[1.0, 2.0]], lr=0.1)
    with pytest.raises(TypeError, match="floating NumPy array"):
        Adam([np.zeros(3, dtype=np.int64)])
    with pytest.raises(ValueError, match="lr"):
        SGD([np.zeros(3)], lr=-0.1)
    with pytest.raises(ValueError, match="betas"):
        Adam([np.zeros(3)], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="writeable"):
        frozen = np.zeros(3)
        frozen.flags.writeable = False
        Adam([frozen])


# --- PyTorch as an independent reference (skipped when torch is missing) --------------------


def run_torch(torch, make_opt, start, grads):
    param = torch.tensor(start, requires_grad=True)
    opt = make_opt([param])
    for g in grads:
        param.grad = torch.tensor(g)
        opt.step()
    return param.detach().numpy()


@pytest.mark.parametrize(
    "kwargs", [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled": True}]
)
def test_adam_matches_torch_adam_and_adamw(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    start = rng.standard_normal((6, 4))
    grads = [rng.standard_normal((6, 4)) for _ in range(5)]
    ours = start.copy()
    opt = Adam([ours], lr=0.01, **kwargs)
    for g in grads:
        opt.step([g])
    decay = kwargs.get("weight_decay", 0.0)
    torch_class = torch.optim.AdamW if kwargs.get("decoupled") else torch.optim.Adam
    theirs = run_torch(torch, lambda p: torch_class(p, lr=0.01, weight_decay=decay), start, grads)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_sgd_matches_torch_sgd_with_momentum_and_weight_decay():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    start = rng.standard_normal((6, 4))
    grads = [rng.standard_normal((6, 4)) for _ in range(5)]
    ours = start.copy()
    opt = SGD([ours], lr=0.05, momentum=0.9, weight_decay=0.01)
    for g in grads:
        opt.step([g])
    theirs = run_torch(
        torch, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01), start, grads
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)


def test_lazy_adam_matches_torch_sparse_adam_up_to_where_eps_enters():
    torch = pytest.importorskip("torch")
    start = np.random.default_rng(5).standard_normal((ROWS, COLS))
    grads = random_sparse_grads(6, steps=6)
    ours = start.copy()
    opt = Adam([ours], lr=0.01)
    param = torch.tensor(start, requires_grad=True)
    theirs = torch.optim.SparseAdam([param], lr=0.01)
    for grad in grads:
        opt.step([grad])
        param.grad = torch.sparse_coo_tensor(
            torch.tensor(grad.indices[None, :]),
            torch.tensor(grad.values),
            (ROWS, COLS),
            check_invariants=True,
        )
        theirs.step()
    # SparseAdam adds eps before the bias correction: a relative difference of order 1e-7 here
    np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-6, atol=1e-9)
    untouched = np.setdiff1d(np.arange(ROWS), np.concatenate([g.indices for g in grads]))
    np.testing.assert_array_equal(ours[untouched], start[untouched])
