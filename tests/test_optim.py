"""SGD and Adam: each update checked against its formula written out step by step in float64,
sparse-row gradients against their dense equivalent, and PyTorch's optimizers when installed."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimal_embed import SGD, Adam, SparseRows

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
