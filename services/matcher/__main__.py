from services.matcher.server import build

build().main()
