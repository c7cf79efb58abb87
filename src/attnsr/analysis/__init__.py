"""Looking inside the attention (SPEC §4, A2N Sec. 3 and 5.4), entirely through forward hooks.

- :mod:`.hooks` — :func:`capture_attention` (inputs, masks, outputs, ADM weights of every attention
  module) and :func:`disable_attention` (masks replaced by ones, per trunk block);
- :mod:`.heatmaps` — channel-mean input / mask / output per block (A2N Fig. 2);
- :mod:`.correlation` — Pearson r of masks with high-pass filtered features (A2N Table 1);
- :mod:`.switching` — PSNR with attention switched off in sets of blocks (A2N Table 2);
- :mod:`.adm` — ADM branch weights over a dataset, most enhanced / suppressed maps (A2N Fig. 7);
- :mod:`.lam` — Local Attribution Maps and the Diffusion Index (Gu & Dong, CVPR 2021); :mod:`.lam_figures`
  their figures (A2N Fig. 8); :mod:`.lam_crops` the crop set and DI over it (A2N Table 7).

No model is changed (STYLE §10). Library code logs; the CLI (``attnsr analyze``) renders.
"""

from .hooks import (
    AttentionCapture,
    AttentionRecord,
    attention_module_names,
    capture_attention,
    disable_attention,
    trunk_blocks,
)

__all__ = [
    "AttentionCapture",
    "AttentionRecord",
    "attention_module_names",
    "capture_attention",
    "disable_attention",
    "trunk_blocks",
]
