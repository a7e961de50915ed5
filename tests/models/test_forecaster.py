import pytest
import torch

from models.forecaster import Forecaster, ForecasterConfig, forecast_values, normalize_window


def tiny(multi_step: str = "direct", features: int = 1, max_horizon: int = 6) -> Forecaster:
    torch.manual_seed(0)
    return Forecaster(ForecasterConfig(features, 8, 2, multi_step, max_horizon)).eval()  # type: ignore[arg-type]


def test_windows_are_standardized_per_feature_and_flat_ones_use_the_floor() -> None:
    window = torch.stack([torch.arange(10.0), torch.full((10,), 5.0)], dim=1)[None]  # (1, 10, 2)
    normalized, center, scale = normalize_window(window, torch.tensor([1e-3, 0.5]))
    assert normalized[0, :, 0].mean().item() == pytest.approx(0, abs=1e-6)
    assert normalized[0, :, 0].std(unbiased=False).item() == pytest.approx(1, abs=1e-5)
    assert (
        center.tolist() == [[4.5, 5.0]] and scale[0, 1].item() == 0.5
    )  # a constant feature is divided by its floor
    assert torch.all(normalized[0, :, 1] == 0)


def test_direct_head_emits_the_asked_steps() -> None:
    # The horizon is checked against the card once, by the predictor (tests/service/test_forecast_route.py),
    # not here.
    model = tiny()
    assert model(torch.randn(3, 12, 1), 4).shape == (3, 4)
    assert model(torch.randn(3, 12, 1), 6).shape == (3, 6)


def test_recursive_forecast_feeds_each_prediction_back() -> None:
    model = tiny("recursive", max_horizon=20)
    window = torch.randn(2, 12, 1)
    with torch.inference_mode():
        produced = model(window, 5)
        # The same rollout by hand: one step from the window, then each output as the next input.
        outputs, state = model.lstm(window)
        step = model.head(outputs[:, -1])
        manual = [step]
        for _ in range(4):
            outputs, state = model.lstm(step[:, None, :], state)
            step = model.head(outputs[:, -1])
            manual.append(step)
    assert torch.allclose(produced, torch.cat(manual, dim=1), atol=1e-6)
    assert torch.allclose(model(window, 3), produced[:, :3], atol=1e-6)  # a shorter horizon is a prefix


def test_recursive_needs_exactly_one_feature_and_target_must_exist() -> None:
    with pytest.raises(ValueError, match="one feature"):
        ForecasterConfig(2, 8, 1, "recursive", 5)
    with pytest.raises(ValueError, match="target_index"):
        ForecasterConfig(2, 8, 1, "direct", 5, target_index=2)


def test_forecasts_move_with_the_level_and_unit_of_the_history() -> None:
    model = tiny(features=2)
    model.config.target_index = 1
    history = torch.randn(4, 16, 2)
    floor = torch.full((2,), 1e-6)
    with torch.inference_mode():
        base, base_scale = forecast_values(model, history, 3, floor)
        moved, moved_scale = forecast_values(model, 50 + 7 * history, 3, floor)
    assert torch.allclose(moved, 50 + 7 * base, atol=1e-3)
    assert torch.allclose(moved_scale, 7 * base_scale, atol=1e-4)


def seq2seq(attention: bool, features: int = 1, target_index: int = 0) -> Forecaster:
    torch.manual_seed(0)
    config = ForecasterConfig(
        features, 8, 2, "direct", 6, target_index, network="seq2seq", attention=attention
    )
    return Forecaster(config).eval()


@pytest.mark.parametrize("attention", [False, True])
def test_seq2seq_decodes_step_by_step_fed_its_own_output(attention: bool) -> None:
    model = seq2seq(attention, features=3, target_index=2)
    window = torch.randn(2, 12, 3)
    with torch.inference_mode():
        produced = model(window, 4)
        assert produced.shape == (2, 4)
        assert torch.allclose(model(window, 2), produced[:, :2])  # each step depends only on those before
        # By hand: the decoder starts from the encoder's state and the last observed target value.
        encoded, state = model.lstm(window)
        step, manual = window[:, -1:, 2:3], []
        for _ in range(4):
            decoded, state = model.decoder(step, state)
            features = decoded[:, -1]
            if attention:
                weights = torch.softmax(encoded @ decoded.transpose(1, 2), dim=1)
                features = torch.cat([features, (weights * encoded).sum(dim=1)], dim=-1)
            value = model.head(features)
            manual.append(value)
            step = value.unsqueeze(1)
        assert torch.allclose(produced, torch.cat(manual, dim=1), atol=1e-6)
    assert model(window, 9).shape == (2, 9)  # it can decode past its training horizon


def test_seq2seq_is_direct_and_attention_is_its_own() -> None:
    with pytest.raises(ValueError, match="multi_step is direct"):
        ForecasterConfig(1, 8, 1, "recursive", 6, network="seq2seq")
    with pytest.raises(ValueError, match="attention is a seq2seq"):
        ForecasterConfig(1, 8, 1, "direct", 6, attention=True)


def test_a_card_written_before_seq2seq_builds_the_head() -> None:
    from models import architectures

    arch = {"type": "Forecaster", "input_size": 1, "hidden_size": 8, "num_layers": 1, "multi_step": "direct",
            "max_horizon": 6, "target_index": 0, "dropout": 0.0}  # fmt: skip
    model = architectures.build(arch)
    assert isinstance(model, Forecaster) and model.config.network == "head" and not hasattr(model, "decoder")
