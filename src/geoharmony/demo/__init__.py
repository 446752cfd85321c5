"""The demo: a synthetic study area, the sample-data registry and the end-to-end demo run."""
