from services.notifier.server import build

build().main()
