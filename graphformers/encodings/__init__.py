"""Learnable encoders for the positional/structural encodings of ``graphformers.transforms``.

Precompute once with a transform (deterministic, cacheable), embed with a module:

=======================  ============================  =============================
transform                attributes                    encoder
=======================  ============================  =============================
``AddLaplacianPE(k)``    ``lap_eigvec/eigval/mask``    :class:`LinearLapPE`,
                                                       :class:`SignNetLapPE`
``AddRandomWalkSE(T)``   ``rwse``                      :class:`RWSEEncoder`
=======================  ============================  =============================

:class:`FeatureEncoder` concatenates the embedded node features with the
encoders' outputs, as GraphGPS does before its first layer.
"""

from graphformers.encodings.compose import FeatureEncoder
from graphformers.encodings.laplacian import LinearLapPE, SignNetLapPE
from graphformers.encodings.random_walk import RWSEEncoder

__all__ = classes = ["FeatureEncoder", "LinearLapPE", "RWSEEncoder", "SignNetLapPE"]
