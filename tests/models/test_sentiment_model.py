import pytest
import torch

from models.sentiment import SentimentClassifier, SentimentConfig, reverse_within_length
from models.text import pad_batch, truncate


def test_reverse_within_length_keeps_padding_in_place_and_undoes_itself() -> None:
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]]).unsqueeze(-1).float()
    lengths = torch.tensor([3, 4])
    reversed_x = reverse_within_length(x, lengths)
    assert reversed_x.squeeze(-1).tolist() == [[3, 2, 1, 0], [7, 6, 5, 4]]
    assert torch.equal(reverse_within_length(reversed_x, lengths), x)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padded_batch_answers_as_single_sequences(cell: str, pooling: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    config = SentimentConfig(
        vocab_size=50,
        embedding_dim=8,
        hidden_size=6,
        num_layers=2,
        cell=cell,  # type: ignore[arg-type]
        bidirectional=bidirectional,
        pooling=pooling,
        dropout=0.0,
    )  # type: ignore[arg-type]
    model = SentimentClassifier(config).eval()
    sequences = [[3, 4, 5], [6, 7, 8, 9, 10, 11, 12], [13]]
    token_ids, lengths = pad_batch(sequences, pad_id=0)
    with torch.inference_mode():
        batched = model(token_ids, lengths)
        for row, sequence in enumerate(sequences):
            single = model(torch.tensor([sequence]), torch.tensor([len(sequence)]))
            assert torch.allclose(batched[row], single[0], atol=1e-5)


def test_truncate_pre_keeps_the_end_and_post_keeps_the_start() -> None:
    assert truncate([1, 2, 3, 4], 2, "pre") == ([3, 4], True)
    assert truncate([1, 2, 3, 4], 2, "post") == ([1, 2], True)
    assert truncate([1, 2], 2, "pre") == ([1, 2], False)


def test_pad_batch_right_pads_to_the_longest() -> None:
    token_ids, lengths = pad_batch([[5, 6], [7]], pad_id=0)
    assert token_ids.tolist() == [[5, 6], [7, 0]]
    assert lengths.tolist() == [2, 1]


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="cell must be one of"):
        SentimentConfig(vocab_size=10, cell="transformer")  # type: ignore[arg-type]
