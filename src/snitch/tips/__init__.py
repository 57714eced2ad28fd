"""Anonymous tips: sealed at rest, moderated, printed only as unverified reader tips."""

from snitch.tips.box import Tip, TipBox, TipRejected, TipStatus, tips_key
from snitch.tips.crypto import TipCipher, TipKeyError, generate_key

__all__ = [
    "Tip",
    "TipBox",
    "TipCipher",
    "TipKeyError",
    "TipRejected",
    "TipStatus",
    "generate_key",
    "tips_key",
]
