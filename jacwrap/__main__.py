from jacwrap.cli import main

raise SystemExit(main())
