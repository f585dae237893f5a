from vnet_tui.cli import main

raise SystemExit(main())
