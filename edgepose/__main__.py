from edgepose.cli import main

raise SystemExit(main())
