"""A causal LM (+ a PEFT adapter) as an agent policy for the evaluation harness, with batched generation that
reuses the key/value cache from turn to turn.

On CPU, re-reading a conversation costs more than writing the next turn: a 300-token system prompt is most of
every prompt, and a conversation grows by a tool result per turn. So a `Session` keeps one cache row per episode
and feeds each turn only the tokens it has not seen:

- Rows are batched: all episodes of a session generate their turn together (one forward per new token for all of
  them), each row right-padded; columns a row does not use (its padding, tokens after it stopped) are masked out.
  Position ids count visible tokens only, so every row sees exactly its own conversation, in order.
- Each turn the conversation is rendered with the chat template and tokenized in full; the part that matches what
  the row has already seen is reused, the rest is fed. When the template renders a turn differently from what
  the model wrote (the parsed tool call re-serialised), the row's cache is masked back to the last matching token
  ("rewound") and the difference fed, so the model always conditions on exactly what training rendered.
- The prompt prefix common to all rows (system prompt and tool list) is computed once and repeated.

Greedy decoding by default (evaluation); with a `temperature` above 0, tokens are sampled from the softmax at that
temperature with a seeded generator (`curator generate` with a local teacher). A row stops at the end-of-turn token
or after `max_new_tokens`.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from trainer.errors import TrainerError, require_adapter

DEFAULT_MAX_NEW_TOKENS = 128  # the longest assistant turn of the sample set is ~90 tokens
DEFAULT_BATCH_SIZE = (
    48  # episodes generating together; the cache of 48 SmolLM2 rows at 2.5k tokens is ~5 GB fp32
)


class ContextFull(Exception):
    """The conversation no longer fits the model's context window; the episode ends unsolved."""


def adapter_base(adapter: str | Path) -> str:
    """The base model an adapter folder was trained on (from its adapter_config.json)."""
    require_adapter(adapter)
    config = Path(adapter) / "adapter_config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TrainerError(f"{config}: unreadable ({type(exc).__name__}: {exc})".splitlines()[0]) from exc


def _in_place_cache():
    """A DynamicCache whose layers write new tokens into spare room instead of concatenating: `torch.cat` copies
    the whole cache on every decoded token, which on CPU costs more than the model (65% of a 41-row step)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    class InPlaceLayer(DynamicLayer):
        room = 256  # columns allocated ahead

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            length, added = self.get_seq_length(), key_states.shape[-2]
            buffer = getattr(self, "buffer", None)
            if (
                buffer is None
                or self.keys.data_ptr() != buffer[0].data_ptr()
                or buffer[0].shape[:2] != key_states.shape[:2]
                or length + added > buffer[0].shape[-2]
            ):
                # first use, or the cache was rebuilt (rows selected, compacted): copy it into a fresh buffer
                shape = (*key_states.shape[:2], length + added + self.room, key_states.shape[-1])
                buffer = (key_states.new_empty(shape), value_states.new_empty(shape))
                if length:
                    buffer[0][:, :, :length] = self.keys
                    buffer[1][:, :, :length] = self.values
                self.buffer = buffer
            buffer[0][:, :, length : length + added] = key_states
            buffer[1][:, :, length : length + added] = value_states
            self.keys, self.values = buffer[0][:, :, : length + added], buffer[1][:, :, : length + added]
            return self.keys, self.values

    cache = DynamicCache()
    cache.layer_class_to_replicate = InPlaceLayer
    return cache


def _common(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ModelPolicy:
    """Greedy generation with a causal LM (+ a PEFT adapter), rendered with the chat template training used.

    Give either folders (`base`: a name or path for `trainer.base.resolve_base`, None for the embedded default;
    `adapter`: a PEFT adapter folder) or loaded objects (`model`, `tokenizer`, e.g. the model being trained).
    The tokenizer (and thus the template) comes from `tokenizer_dir`, else the adapter folder (saved with the
    template training used), else the base with `trainer.template.use_template` (what training would install).
    The model loads on first use; `close()` frees it. Calling the policy answers one conversation; `session()`
    answers many at once, turn after turn (see the module docstring).
    """

    def __init__(
        self,
        base: str | Path | None = None,
        adapter: str | Path | None = None,
        *,
        tokenizer_dir: str | Path | None = None,
        model=None,
        tokenizer=None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
        merge: bool = True,
        temperature: float = 0.0,
        seed: int = 0,
    ):
        self.base, self.adapter = base, adapter
        self.tokenizer_dir = tokenizer_dir or adapter
        self.model, self.tokenizer = model, tokenizer
        self._owns_model = model is None  # a model handed in is the caller's: close() keeps it
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.device = device
        self.merge = merge
        self.temperature, self.seed = temperature, seed
        self.generator = None
        self.generated_tokens = 0
        self.generate_s = 0.0
        self.ready = False
        if adapter is not None:
            adapter_base(adapter)  # fail early on a folder that is not an adapter

    def load(self) -> None:
        import torch

        from trainer.base import load_model, load_tokenizer, resolve_base
        from trainer.template import end_of_turn, use_template

        if self.tokenizer is None or self.model is None:
            base = self.base if self.base is not None or self.adapter is None else adapter_base(self.adapter)
            base_path = resolve_base(None if base is None else str(base))
            if self.tokenizer is None:
                if self.tokenizer_dir is not None:
                    self.tokenizer = load_tokenizer(Path(self.tokenizer_dir))
                else:
                    self.tokenizer = load_tokenizer(base_path)
                    use_template(self.tokenizer)
            if self.model is None:
                model = load_model(base_path)
                if self.adapter is not None:
                    from peft import PeftModel

                    try:
                        model = PeftModel.from_pretrained(model, str(self.adapter))
                    except Exception as exc:  # noqa: BLE001 - any load failure is one line for the user
                        raise TrainerError(
                            f"adapter {self.adapter} does not fit base {base_path}: "
                            f"{type(exc).__name__}: {exc}".splitlines()[0]
                        ) from exc
                    if self.merge:
                        model = model.merge_and_unload()
                device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
                self.model = model.to(device)
        if not self.tokenizer.chat_template:
            raise TrainerError("the tokenizer has no chat template")
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.end_text = end_of_turn(self.tokenizer)
        stop = {self.tokenizer.convert_tokens_to_ids(self.end_text), self.tokenizer.eos_token_id}
        self.stop_ids = sorted(i for i in stop if isinstance(i, int) and i >= 0)
        self.context = getattr(self.model.config, "max_position_embeddings", None)
        if self.temperature > 0:
            device = next(self.model.parameters()).device
            self.generator = torch.Generator(device=device).manual_seed(self.seed)
        self.ready = True

    def pick(self, logits) -> list[int]:
        """The next token of each row: the most likely one, or sampled at the policy's temperature."""
        import torch

        if self.temperature <= 0:
            return logits.argmax(-1).tolist()
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1).tolist()

    def session(self, tools: list[dict]) -> Session:
        """A batch of conversations answered turn after turn with one cache; see `Session`."""
        if not self.ready:
            self.load()
        return Session(self, tools)

    def __call__(self, messages: list[dict], tools: list[dict]) -> str:
        """The assistant's next reply to one conversation; raises ContextFull when it no longer fits."""
        reply = self.session(tools)({0: messages})[0]
        if isinstance(reply, ContextFull):
            raise reply
        return reply

    def close(self) -> None:
        """Free the model it loaded (and GPU memory); the next call loads it again."""
        if self._owns_model:
            self.model = None
        self.ready = False
        with contextlib.suppress(Exception):
            import gc

            import torch

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


class Session:
    """Answers a fixed set of conversations turn after turn, reusing their cache (see the module docstring).

    Call it with {key: messages} for the conversations that go on; the first call names them all, later calls a
    subset (a conversation left out is finished and its row dropped). Returns {key: reply text, or a ContextFull
    for a conversation that no longer fits}.
    """

    def __init__(self, policy: ModelPolicy, tools: list[dict]):
        self.policy, self.tools = policy, list(tools) or None
        self.keys: list = []
        self.cache = None
        self.mask = None  # [rows, columns]: 1 where a row sees the token in that column
        self.seen: list[list[int]] = []  # per row: the visible token ids, in order
        self.cols: list[list[int]] = []  # per row: the column of each visible token

    def _ids(self, messages: list[dict]) -> list[int]:
        from trainer.template import render

        tokenizer = self.policy.tokenizer
        text = render(tokenizer, messages, self.tools, generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def _rows(self, keys: list) -> None:
        """Start with `keys`, or keep the rows of the conversations that go on."""
        import torch

        if self.cache is None:
            self.keys = list(keys)
            self.seen = [[] for _ in keys]
            self.cols = [[] for _ in keys]
            return
        unknown = set(keys) - set(self.keys)
        if unknown:
            raise ValueError(
                f"a session answers the conversations of its first call; new: {sorted(map(str, unknown))}"
            )
        going = set(keys)
        keep = [i for i, k in enumerate(self.keys) if k in going]
        if len(keep) < len(self.keys):
            index = torch.tensor(keep, device=self.mask.device)
            self.cache.batch_select_indices(index)
            self.mask = self.mask[index]
            self.keys = [self.keys[i] for i in keep]
            self.seen = [self.seen[i] for i in keep]
            self.cols = [self.cols[i] for i in keep]

    def _compact(self) -> None:
        """Drop the columns no row sees (padding, tokens after a stop, rewound tokens): every decode step reads
        and copies the whole cache, so its width is the cost. Rows keep their tokens in order, right-aligned."""
        import torch

        width = max(len(c) for c in self.cols)
        if width == self.mask.shape[1]:
            return
        device = self.mask.device
        index = torch.zeros((len(self.cols), width), dtype=torch.long)
        mask = torch.zeros((len(self.cols), width), dtype=torch.long)
        for row, cols in enumerate(self.cols):
            if cols:
                index[row, width - len(cols) :] = torch.tensor(cols)
                mask[row, width - len(cols) :] = 1
            self.cols[row] = list(range(width - len(cols), width))
        index = index.to(device)
        for layer in self.cache.layers:
            heads, dim = layer.keys.shape[1], layer.keys.shape[3]
            gather = index[:, None, :, None].expand(-1, heads, -1, dim)
            layer.keys = layer.keys.gather(2, gather)
            layer.values = layer.values.gather(2, gather)
        self.mask = mask.to(device)

    def _forward(self, chunks: list[list[int]]):
        """Feed one right-padded chunk per row; the logits after each row's last real token."""
        import torch

        model, device = self.policy.model, self.mask.device
        width = max(1, max(len(c) for c in chunks))
        start = self.mask.shape[1]
        ids = torch.full((len(chunks), width), self.policy.pad_id, dtype=torch.long)
        new = torch.zeros((len(chunks), width), dtype=torch.long)
        for row, chunk in enumerate(chunks):
            ids[row, : len(chunk)] = torch.tensor(chunk, dtype=torch.long)
            new[row, : len(chunk)] = 1
            self.seen[row].extend(chunk)
            self.cols[row].extend(range(start, start + len(chunk)))
        self.mask = torch.cat([self.mask, new.to(device)], dim=1)
        positions = (self.mask.cumsum(-1) - 1).clamp(min=0)[:, start:]
        last = torch.tensor([[max(len(c), 1) - 1] for c in chunks], device=device)
        out = model(
            input_ids=ids.to(device),
            attention_mask=self.mask,
            position_ids=positions,
            cache=self.cache,
            use_cache=True,
            logits_to_keep=last,
        )
        return out.logits.reshape(len(chunks), -1)

    def _prefix(self, prompts: list[list[int]]) -> None:
        """Start the cache with the prompt prefix every row shares, computed once."""
        import torch

        device = next(self.policy.model.parameters()).device
        self.cache = _in_place_cache()
        shared = min(len(p) for p in prompts) - 1
        for p in prompts[1:]:
            shared = min(shared, _common(prompts[0], p))
        self.mask = torch.zeros((1, 0), dtype=torch.long, device=device)
        if shared >= 1:
            self.seen, self.cols = [[]], [[]]
            self._forward([prompts[0][:shared]])
            self.cache.batch_repeat_interleave(len(prompts))
            self.mask = self.mask.repeat(len(prompts), 1)
            self.seen = [list(self.seen[0]) for _ in prompts]
            self.cols = [list(self.cols[0]) for _ in prompts]
        else:
            self.mask = self.mask.repeat(len(prompts), 1)
            self.seen = [[] for _ in prompts]
            self.cols = [[] for _ in prompts]

    def __call__(self, conversations: dict) -> dict:
        import torch

        policy = self.policy
        self._rows(list(conversations))
        prompts = [self._ids(conversations[k]) for k in self.keys]
        replies: dict = {}
        live = []
        for row, (key, ids) in enumerate(zip(self.keys, prompts, strict=True)):
            if policy.context and len(ids) + policy.max_new_tokens > policy.context:
                replies[key] = ContextFull(
                    f"prompt of {len(ids)} tokens + {policy.max_new_tokens} new > {policy.context}"
                )
            elif not ids:
                raise ValueError("the chat template rendered an empty prompt")
            else:
                live.append(row)
        if not live:
            return replies
        started, was_training = time.perf_counter(), policy.model.training
        policy.model.eval()
        try:
            with torch.no_grad():
                if self.cache is None:
                    self._prefix(prompts)
                chunks = [[] for _ in self.keys]
                for row in live:
                    ids, seen = prompts[row], self.seen[row]
                    same = min(
                        _common(seen, ids), len(ids) - 1
                    )  # at least one token is fed: it gives the logits
                    if same < len(seen):  # rewind: hide what no longer matches the rendered conversation
                        self.mask[row, self.cols[row][same:]] = 0
                        del seen[same:], self.cols[row][same:]
                    chunks[row] = ids[same:]
                self._compact()
                generated = self._decode(self._forward(chunks), live)
        finally:
            if was_training:  # a model handed in by a training loop goes back to training mode
                policy.model.train()
        policy.generate_s += time.perf_counter() - started
        for row in live:
            new = generated[row]
            policy.generated_tokens += len(new)
            while new and new[-1] in policy.stop_ids:
                new = new[:-1]
            text = policy.tokenizer.decode(new, skip_special_tokens=False)
            for end in (policy.end_text, policy.tokenizer.eos_token):
                if end and end in text:
                    text = text.split(end)[0]
            replies[self.keys[row]] = text
        return replies

    def _decode(self, logits, live: list[int]) -> dict[int, list[int]]:
        """Tokens per live row (`ModelPolicy.pick`) until each stops (end-of-turn) or `max_new_tokens`. When half
        the rows in the batch have stopped, the rest go on as a smaller batch (`_shrink`); all rows are back at the
        end."""
        policy = self.policy
        generated: dict[int, list[int]] = {row: [] for row in live}
        active = set(live)
        stop = set(policy.stop_ids)
        rows = list(range(len(self.keys)))  # the session row of each batch position
        shrunk = []
        for step in range(policy.max_new_tokens):
            tokens = policy.pick(logits)
            for pos, row in enumerate(rows):
                if row in active:
                    generated[row].append(tokens[pos])
                    if tokens[pos] in stop:
                        active.discard(row)
            if not active or step == policy.max_new_tokens - 1:
                break
            if len(active) <= len(rows) // 2:
                keep = [pos for pos, row in enumerate(rows) if row in active]
                shrunk.append(self._shrink(keep))
                rows, tokens = [rows[p] for p in keep], [tokens[p] for p in keep]
            logits = self._forward([[tokens[pos]] if row in active else [] for pos, row in enumerate(rows)])
        while shrunk:
            self._grow(*shrunk.pop())
        return generated

    def _shrink(self, keep: list[int]) -> tuple:
        """Go on with the batch positions `keep` only; returns what `_grow` needs to put the others back."""
        import torch

        saved = (
            torch.tensor(keep, device=self.mask.device),
            [(layer.keys, layer.values) for layer in self.cache.layers],
            self.mask,
            self.seen,
            self.cols,
        )
        self.cache.batch_select_indices(saved[0])
        self.mask = self.mask[saved[0]]
        self.seen, self.cols = [self.seen[p] for p in keep], [self.cols[p] for p in keep]  # the same lists
        return saved

    def _grow(self, index, tensors: list, mask, seen: list, cols: list) -> None:
        """Undo a `_shrink`: the rows set aside get the new columns, masked out."""
        width, added = mask.shape[1], self.mask.shape[1]
        for layer, parents in zip(self.cache.layers, tensors, strict=True):
            merged = []
            for parent, child in zip(parents, (layer.keys, layer.values), strict=True):
                full = parent.new_zeros((parent.shape[0], parent.shape[1], added, parent.shape[3]))
                full[:, :, :width] = parent
                full[index, :, width:] = child[:, :, width:]
                merged.append(full)
            layer.keys, layer.values = merged
        full = mask.new_zeros((mask.shape[0], added))
        full[:, :width] = mask
        full[index, width:] = self.mask[:, width:]
        self.mask, self.seen, self.cols = full, seen, cols
