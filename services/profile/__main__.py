from services.profile.server import build

build().main()
