"""Perceivers: what the planner reads of an observation (protocol in :mod:`lma.perception.base`)."""

from lma.registry import perceivers

perceivers.register("passthrough", "lma.perception.base:Passthrough",
                    description="the observation text; the frame to planners whose model takes images")
perceivers.register("blank-frame", "lma.perception.base:BlankFrame",
                    description="the text, and a black frame instead of the real one (does a VLM planner look?)")
perceivers.register("caption", "lma.perception.caption:from_spec", raw_target=True,
                    description="a VLM describes the frame in words for a text-only planner (caption:MODEL_SPEC)")
perceivers.register("scene", "lma.perception.caption:scene_from_spec", raw_target=True,
                    description="a captioner trained here (lma finetune --caption) writes the env's own sentences "
                                "for the frame (scene:MODEL_SPEC)")
perceivers.register("tiles", "lma.perception.tiles:Tiles", raw_target=True,
                    description="a vision tower trained here (lma finetune --tiles) reads each tile of a BabyAI "
                                "frame; the view's sentences are written from what it read (tiles:DIR)")
perceivers.register("ocr", "lma.perception.ocr:Ocr", description="the text on the frame, with boxes (RapidOCR)")
perceivers.register("a11y", "lma.perception.elements:A11y",
                    description="the accessibility view: elements with ids, roles and labels")
perceivers.register("som", "lma.perception.marks:SetOfMarks",
                    description="set-of-marks: numbered boxes drawn on the frame, ids = the tools' element ids")
