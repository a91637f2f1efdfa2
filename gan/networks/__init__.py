"""Generator and discriminator architectures (docs/faithfulness.md section 3)."""
