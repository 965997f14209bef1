from exporter.deploy_gate.command import main

raise SystemExit(main())
