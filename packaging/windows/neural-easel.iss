; Inno Setup script for the Windows installer (Inno Setup 6). Build the bundle first, on Windows:
;   py -3.11 -m venv build\venv-cpu
;   build\venv-cpu\Scripts\pip install torch==2.13.0 pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9
;   build\venv-cpu\Scripts\pip install .
;   build\venv-cpu\Scripts\python packaging\render_icons.py build\icons
;   build\venv-cpu\Scripts\pyinstaller --noconfirm --distpath build\bundle --workpath build\pyinstaller packaging\neural-easel.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\neural-easel.iss
; which writes dist\neural-easel-0.1.0-setup.exe (per-user install, no administrator rights needed).

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z packaging\windows\neural-easel.iss
#endif

[Setup]
AppId={{6E2C1F0B-6B1E-4E8A-9A57-3C2D1B7F5E21}
AppName=Neural Easel
AppVersion={#AppVersion}
AppPublisher=The Neural Easel developers
DefaultDirName={autopf}\Neural Easel
DefaultGroupName=Neural Easel
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=neural-easel-{#AppVersion}-setup
SetupIconFile=..\..\build\icons\neural-easel.ico
UninstallDisplayIcon={app}\neural-easel.exe
LicenseFile=..\..\LICENSE
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesAssociations=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\build\bundle\neural-easel\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Neural Easel"; Filename: "{app}\neural-easel.exe"
Name: "{group}\{cm:UninstallProgram,Neural Easel}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Neural Easel"; Filename: "{app}\neural-easel.exe"; Tasks: desktopicon

[Registry]
; "Open with Neural Easel" for pictures, without taking over their default program.
Root: HKA; Subkey: "Software\Classes\Applications\neural-easel.exe\shell\open\command"; ValueType: string; ValueData: """{app}\neural-easel.exe"" ""%1"""; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\.png\OpenWithProgids"; ValueType: string; ValueName: "NeuralEasel.Picture"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.jpg\OpenWithProgids"; ValueType: string; ValueName: "NeuralEasel.Picture"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\NeuralEasel.Picture\shell\open\command"; ValueType: string; ValueData: """{app}\neural-easel.exe"" ""%1"""; Flags: uninsdeletekey

[Run]
Filename: "{app}\neural-easel.exe"; Description: "{cm:LaunchProgram,Neural Easel}"; Flags: nowait postinstall skipifsilent
