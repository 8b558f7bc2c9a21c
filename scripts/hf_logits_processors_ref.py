#!/usr/bin/python3
"""Reference for ftl-train's sampling: Hugging Face transformers' RepetitionPenaltyLogitsProcessor,
TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper (the code of transformers 4.x, written out in
torch because transformers is not installable here), applied in generate's order to fixed logits.
Prints JSON: a list of cases with the inputs and the processed logits (-inf as null)."""
import json
import torch


def repetition_penalty(scores, input_ids, penalty):
    score = torch.gather(scores, 1, input_ids)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return scores.scatter(1, input_ids, score)


def temperature(scores, t):
    return scores / t


def top_k(scores, k, filter_value=-float("inf"), min_tokens_to_keep=1):
    k = min(max(k, min_tokens_to_keep), scores.size(-1))
    indices_to_remove = scores < torch.topk(scores, k)[0][..., -1, None]
    return scores.masked_fill(indices_to_remove, filter_value)


def top_p(scores, p, filter_value=-float("inf"), min_tokens_to_keep=1):
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_indices_to_remove = cumulative_probs <= (1 - p)
    sorted_indices_to_remove[..., -min_tokens_to_keep:] = 0
    indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
    return scores.masked_fill(indices_to_remove, filter_value)


def main():
    torch.manual_seed(1234)
    vocab = 97
    settings = [
        dict(penalty=1.0, temperature=1.0, top_k=0, top_p=1.0),
        dict(penalty=1.3, temperature=1.0, top_k=0, top_p=1.0),
        dict(penalty=0.7, temperature=1.0, top_k=0, top_p=1.0),
        dict(penalty=1.0, temperature=0.6, top_k=10, top_p=1.0),
        dict(penalty=1.0, temperature=1.0, top_k=0, top_p=0.8),
        dict(penalty=1.0, temperature=1.0, top_k=0, top_p=0.01),
        dict(penalty=1.2, temperature=0.8, top_k=25, top_p=0.9),
        dict(penalty=1.5, temperature=1.7, top_k=200, top_p=0.5),
        dict(penalty=1.1, temperature=0.3, top_k=1, top_p=0.95),
    ]
    cases = []
    for s in settings:
        logits = (torch.randn(1, vocab, dtype=torch.float32) * 3.0)
        ids = torch.randint(0, vocab, (1, 15))
        x = logits.clone()
        x = repetition_penalty(x, ids, s["penalty"])
        x = temperature(x, s["temperature"])
        if s["top_k"] > 0:
            x = top_k(x, s["top_k"])
        if s["top_p"] < 1.0:
            x = top_p(x, s["top_p"])
        expected = [None if v == -float("inf") else v for v in x[0].tolist()]
        cases.append(dict(s, logits=logits[0].tolist(), input_ids=ids[0].tolist(), expected=expected))
    print(json.dumps(cases))


if __name__ == "__main__":
    main()
