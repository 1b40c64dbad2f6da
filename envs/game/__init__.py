"""Game worlds: BabyAI/MiniGrid levels (and, through the Gymnasium wrapper, any other game)."""
