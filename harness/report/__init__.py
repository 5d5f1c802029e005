"""Writers that render a verdict document; none of them decides anything."""
