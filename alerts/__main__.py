from alerts.cli import main

raise SystemExit(main())
