"""Reading: opens what was written (datasets, loaders, augmentation); never writes."""
