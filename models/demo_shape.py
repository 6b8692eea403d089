"""The Qwen3 architecture settings the demo model and the benchmark models share.

``QWEN3_COMMON`` is what every Qwen3 checkpoint of the 0.6B-8B family sets alike;
``DEMO_SHAPE`` is the demo model's small shape (its vocabulary is the tokenizer's).
"""

QWEN3_COMMON = dict(
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
DEMO_SHAPE = dict(
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=32,
    max_position_embeddings=32768,
    **QWEN3_COMMON,
)
