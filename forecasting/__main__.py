import sys

from forecasting.api.cli import main

sys.exit(main())
