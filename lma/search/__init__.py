"""Multimodal document search: documents with an image and a text, found by image, text, or both.

As in NAVER's multimodal search, each document is embedded twice by one CLIP backend (its image
and its text, in the same space) and labelled with colour and pattern by attribute classifiers on
its image embedding; a query ranks documents by a fused image + text similarity and may filter on
those attributes. A *composed* query is a picture plus a change ("this, but green"): the picture's
embedding is moved along the text-embedding difference (unCLIP's text diff) and fused with the
modifier's text. :mod:`lma.search.index` stores and searches, :mod:`lma.search.matrix` scores every
document exactly, :mod:`lma.search.compose` turns a query into vectors.
"""
