from services.web.app import build

build().main()
