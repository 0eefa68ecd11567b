from zenml_devices_tui.cli import main

raise SystemExit(main())
