"""The options of `allocate`, as the public API names them.

They are declared once, in `tradefolio.portfolio.options` (below the backtest and live
engines, which run the same model at every rebalance of `--portfolio`); this module is
their public address for `tf.allocate` and the CLI: each name is re-exported as it is
(``import X as X``, the explicit re-export), so the list is not kept twice.
"""

from tradefolio.portfolio.options import ALLOCATE_DEFAULTS as ALLOCATE_DEFAULTS
from tradefolio.portfolio.options import ESTIMATORS as ESTIMATORS
from tradefolio.portfolio.options import FACTOR_CHOICES as FACTOR_CHOICES
from tradefolio.portfolio.options import MAX_CAPITAL as MAX_CAPITAL
from tradefolio.portfolio.options import NEEDS_HISTORY as NEEDS_HISTORY
from tradefolio.portfolio.options import OBJECTIVES as OBJECTIVES
from tradefolio.portfolio.options import AllocateOptions as AllocateOptions
from tradefolio.portfolio.options import check_fraction as check_fraction
from tradefolio.portfolio.options import check_positive as check_positive
from tradefolio.portfolio.options import require as require
