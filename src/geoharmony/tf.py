"""Public path of the ``tf.data`` adapter (``geoharmony.reading.tf``); needs the ``tf`` extra."""

from geoharmony.reading.tf import to_tf_dataset

__all__ = ["to_tf_dataset"]
