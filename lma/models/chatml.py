"""ChatML with image parts: the chat template of the models lma builds itself.

The tiny test models (:mod:`lma.models.tiny`) and the vision-language models lma assembles
(:mod:`lma.train.assemble`) render chats as SmolLM2 does (``<|im_start|>role\\n...<|im_end|>``),
and a message whose content is a list of parts puts an ``<image>`` token where an image part is,
which a LLaVA processor then expands into the image's patch tokens.
"""

CHATML_WITH_IMAGES = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>' }}{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
IMAGE_TOKEN = "<image>"
