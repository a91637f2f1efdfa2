"""Generator and discriminator architectures (SPEC section 3)."""
