"""Values every layer shares."""

ALL_M = -1  # m_target value meaning "all experimental training data" (the one representation)
