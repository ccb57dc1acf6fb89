"""Units as a reader sees them."""


def pretty_units(units: str) -> str:
    """Units for display: ``g/cm^3`` -> ``g/cm³``."""
    return (units or "").replace("^3", "³").replace("^2", "²").replace("^-1", "⁻¹")
