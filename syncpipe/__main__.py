import sys

from syncpipe.cli import main

sys.exit(main())
