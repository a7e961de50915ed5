import torch

from models.language_model import LanguageModel, LanguageModelConfig


def test_last_only_gives_the_last_steps_logits_and_the_same_state() -> None:
    torch.manual_seed(0)
    model = LanguageModel(
        LanguageModelConfig(vocab_size=40, embedding_dim=8, hidden_size=8, dropout=0.0)
    ).eval()
    token_ids = torch.randint(0, 40, (3, 7))
    with torch.inference_mode():
        full, full_state = model(token_ids)
        last, last_state = model(token_ids, last_only=True)
    assert last.shape == (3, 1, 40)
    assert torch.allclose(last[:, 0], full[:, -1], atol=1e-6)
    assert torch.equal(last_state[0], full_state[0])


def test_tied_weights_share_one_tensor() -> None:
    model = LanguageModel(LanguageModelConfig(vocab_size=40, embedding_dim=8, hidden_size=8))
    assert model.decoder.weight is model.embedding.weight
