"""The perceivers beyond ``passthrough``; chosen by name through :func:`lma.perception.make_perceiver`.

Each module holds one idea: :mod:`~lma.perceivers.caption` (a VLM describes the frame),
:mod:`~lma.perceivers.ocr` (text read off the frame), :mod:`~lma.perceivers.elements` (the
accessibility view of an env's elements) and :mod:`~lma.perceivers.marks` (set-of-marks).
"""
