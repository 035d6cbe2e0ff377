"""Every golden loss, computed by the running server through the Python client,
matches PyTorch/torchvision (tests/golden/generate_losses.py) to 1e-5 relative."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from golden import array, load_cases

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_reference(client: Any, case: dict[str, Any]) -> None:
    # Alternate numpy and torch inputs so both paths of the client are used.
    as_torch = CASES.index(case) % 2 == 1
    by_reduction: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for expected in case["losses"]:
        by_reduction[expected["spec"]["reduction"]].append(expected)
    for reduction, group in by_reduction.items():
        kwargs: dict[str, Any] = {}
        if "ignore_index" in case:
            kwargs["ignore_index"] = case["ignore_index"]
        if "box_preds" in case:
            kwargs["box_preds"] = array(case["box_preds"], as_torch)
            kwargs["box_targets"] = array(case["box_targets"], as_torch)
        results = client.compute_loss(
            array(case["scores"], as_torch), array(case["targets"], as_torch),
            task=case["task"], input_kind=case["input_kind"],
            losses=[dict(e["spec"]) for e in group], return_gradients=True, **kwargs)
        assert len(results) == len(group)
        for expected, result in zip(group, results.values()):
            label = f"{case['id']} {expected['spec']}"
            np.testing.assert_allclose(result.value, expected["value"], rtol=1e-5,
                                       atol=1e-12, err_msg=label)
            np.testing.assert_allclose(result.gradient.reshape(-1), expected["gradient"],
                                       rtol=1e-5, atol=1e-12, err_msg=label)
            assert result.gradient.shape == tuple(case["scores"]["shape"])
            if reduction == "NONE":
                assert result.values.shape == tuple(expected["values_shape"])
                np.testing.assert_allclose(result.values.reshape(-1), expected["values"],
                                           rtol=1e-5, atol=1e-12, err_msg=label)
            else:
                assert result.values is None
