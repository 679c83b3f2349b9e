from services.webhooks.server import build

build().main()
