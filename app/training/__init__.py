"""The data-centric model loop: a fixed recipe trained on each frozen dataset version, evaluated
honestly, compared between versions, and turned into the next data fix."""
